//! Secrets (an app secret, a token): wiped when dropped, never shown by
//! Debug. What the library cannot wipe is said in the header
//! (`feishu_client_options_set_app_credentials`).

/// Bytes that are wiped when dropped and never shown by Debug.
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(bytes: &[u8]) -> Secret {
        Secret(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret::new(&self.0)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Overwrites `secret` (bytes, a string and its spare capacity) with zeros
/// in a way the optimizer keeps.
pub fn wipe<S: zeroize::Zeroize + ?Sized>(secret: &mut S) {
    secret.zeroize();
}

/// An app's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub app_id: String,
    pub app_secret: Secret,
}
