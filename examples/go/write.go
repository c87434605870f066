package feishutask

// Starting the task: the two drive calls that create the task ids TaskCheck
// and Wait read (feishu_client_move, feishu_client_delete).

/*
#include <stdlib.h>
#include "feishu_task.h"

// Frees a C copy of a token after wiping it (the static helper of
// feishutask.go's preamble is not visible here).
static void feishutask_write_free_token(char *s) {
	if (s != NULL) {
		volatile char *p = s;
		while (*p != '\0') *p++ = 0;
		free(s);
	}
}
*/
import "C"

import (
	"context"
	"unsafe"
)

// Move starts moving the file or folder fileToken into the folder folderToken
// (POST /open-apis/drive/v1/files/{fileToken}/move).
//
// fileType is the platform's type word of fileToken: "folder", "file",
// "docx", "doc", "sheet", "bitable", "mindnote", "slides", "shortcut", ...
// (non-empty lowercase ASCII letters and '_', at most 32 bytes; the list is
// the platform's). fileToken and folderToken are the platform's tokens
// (non-empty visible ASCII, at most 256 bytes). token is as for TaskCheck
// ("" uses the client's managed token).
//
// It returns the task id of an asynchronous move (a folder: pass it to Wait
// or TaskCheck), or "" when the platform finished at once (a file, or a
// folder already in place). MoveAndWait does both steps.
//
// Write limits: the platform allows moves and deletes no concurrency and 5
// per second. The client keeps them: two writes with the same token never
// overlap (a later one waits its turn, in arrival order), at most 5 start per
// second per token, and the platform's 1061045 ("retry later") is waited out
// and the write retried, all within the client's call timeout (the
// whole-call deadline; a write that could not start by then is ErrTimeout,
// unsent). TaskCheck and Wait are never held back by writes.
//
// Write safety: a write is never sent twice when the first may have been
// applied. After a failure once the request was sent (a timeout while
// waiting for the answer, a reset, a 5xx such as an HTML 502 or 1061001),
// the error's Message says "the operation may have been applied: check
// before repeating it"; check the item before calling again.
//
// If ctx is already done, Move returns its error (as TaskCheck does) without
// sending anything; a call in flight, its wait for its turn included, is not
// interrupted by ctx: it ends within the client's call timeout.
//
// Errors are *APIError: ErrInvalidArgument (nothing sent) for bad input,
// ErrPlatform with the platform's code (1061002 params error, 1061003 not
// found, 1061004 forbidden, 1061007 already deleted, 1061045 retry later
// when the deadline ran out, 1062501 no permission, 1062507 more than 1,500
// items in the folder, 99991400 rate limited, 99991403 monthly quota spent,
// ...), ErrNetwork, ErrTimeout, ErrHTTP, ErrProtocol (also a task id that
// does not fit the library's buffer: the platform accepted the operation,
// and the message quotes the id), or ErrClosed.
func (c *Client) Move(ctx context.Context, token, fileToken, fileType, folderToken string) (taskID string, err error) {
	return c.write(ctx, token, fileToken, fileType, &folderToken)
}

// Delete starts deleting the file or folder fileToken of type fileType (it
// goes to the recycle bin; DELETE /open-apis/drive/v1/files/{fileToken}?type=).
//
// A folder is deleted asynchronously: its task id is returned (pass it to
// Wait or TaskCheck); anything else is deleted at once and "" returned.
// 1061007 means the item was already deleted. Inputs, write limits, write
// safety, ctx and errors are those of Move. DeleteAndWait does both steps.
func (c *Client) Delete(ctx context.Context, token, fileToken, fileType string) (taskID string, err error) {
	return c.write(ctx, token, fileToken, fileType, nil)
}

// MoveAndWait moves fileToken into folderToken (see Move) and, when the
// platform answers with a task id, waits until the task has finished (see
// Wait). ctx bounds and stops the whole: its deadline is the wait's (the
// move itself is bounded by the client's call timeout, as Move is).
//
// It returns the task id ("" when the move was done at once) and the final
// status: StatusSuccess (also for a move done at once) or StatusFail (the
// task failed; err is nil, as for Wait). progress (may be nil) is called
// after every poll of the wait, never for a move done at once.
//
// When the move fails, taskID is "", the status StatusUnknown and err Move's
// error. When the move started but the wait failed (ctx's deadline or
// cancel, Close, a permanent poll failure), taskID is the task's id, the
// status the last one seen and err Wait's error: the operation is under way,
// so do not move again; Wait(ctx, token, taskID, progress) resumes waiting.
func (c *Client) MoveAndWait(ctx context.Context, token, fileToken, fileType, folderToken string,
	progress func(Progress)) (taskID string, status Status, err error) {
	taskID, err = c.Move(ctx, token, fileToken, fileType, folderToken)
	return c.andWait(ctx, token, taskID, err, progress)
}

// DeleteAndWait deletes fileToken (see Delete) and, when the platform
// answers with a task id (a folder), waits until the task has finished (see
// Wait). Its results, ctx and progress are those of MoveAndWait.
func (c *Client) DeleteAndWait(ctx context.Context, token, fileToken, fileType string,
	progress func(Progress)) (taskID string, status Status, err error) {
	taskID, err = c.Delete(ctx, token, fileToken, fileType)
	return c.andWait(ctx, token, taskID, err, progress)
}

// andWait is the second step of MoveAndWait and DeleteAndWait.
func (c *Client) andWait(ctx context.Context, token, taskID string, startErr error,
	progress func(Progress)) (string, Status, error) {
	switch {
	case startErr != nil:
		return "", StatusUnknown, startErr
	case taskID == "":
		return "", StatusSuccess, nil // done at once
	}
	status, err := c.Wait(ctx, token, taskID, progress)
	return taskID, status, err
}

// write makes a move (folderToken != nil) or a delete.
func (c *Client) write(ctx context.Context, token, fileToken, fileType string, folderToken *string) (string, error) {
	if err := ctxDone(ctx); err != nil {
		return "", err
	}
	if err := noNUL("token", token); err != nil {
		return "", err
	}
	if err := noNUL("file token", fileToken); err != nil {
		return "", err
	}
	if err := noNUL("file type", fileType); err != nil {
		return "", err
	}
	if folderToken != nil {
		if err := noNUL("folder token", *folderToken); err != nil {
			return "", err
		}
	}
	ptr, err := c.acquire()
	if err != nil {
		return "", err
	}
	defer c.release()

	// "" -> NULL: the managed token (as for TaskCheck).
	var ctoken *C.char
	if token != "" {
		ctoken = C.CString(token)
	}
	defer C.feishutask_write_free_token(ctoken)
	cfile, ctype := C.CString(fileToken), C.CString(fileType)
	defer C.free(unsafe.Pointer(cfile))
	defer C.free(unsafe.Pointer(ctype))

	// Go memory without Go pointers: cgo lets C write into it for the call.
	var out [C.FEISHU_TASK_ID_SIZE]C.char
	var cerr C.FeishuError
	var rc C.int32_t
	if folderToken != nil {
		cfolder := C.CString(*folderToken)
		defer C.free(unsafe.Pointer(cfolder))
		rc = C.feishu_client_move(ptr, ctoken, cfile, ctype, cfolder, &out[0], &cerr)
	} else {
		rc = C.feishu_client_delete(ptr, ctoken, cfile, ctype, &out[0], &cerr)
	}
	if rc != 0 {
		return "", toError(&cerr, int32(rc))
	}
	// The library terminates it; make sure before reading it as a C string.
	out[len(out)-1] = 0
	return C.GoString(&out[0]), nil
}
