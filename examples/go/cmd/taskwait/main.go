// Command taskwait waits until a Feishu drive task has finished, printing a
// line per poll, then the final status or the error (with the platform's log
// id).
//
//	FEISHU_TOKEN=t-xxxx taskwait [-timeout 60s] 7360595374803812356
//	FEISHU_APP_ID=cli_xxx FEISHU_APP_SECRET=xxx taskwait 7360595374803812356
//
// The token (a tenant_access_token or user_access_token) is read from the
// environment so it never shows up in `ps` or shell history; with
// FEISHU_APP_ID and FEISHU_APP_SECRET instead, the library fetches and
// refreshes the app's tenant_access_token itself. FEISHU_BASE_URL selects
// another host (e.g. https://open.larksuite.com). Ctrl-C cancels the wait.
//
// Exit status: 0 when the task succeeded, 1 when it failed or the wait did,
// 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"example.com/feishutask"
)

func describe(s feishutask.Status) string {
	switch s {
	case feishutask.StatusSuccess:
		return "success (the task has finished)"
	case feishutask.StatusFail:
		return "fail (the task has failed)"
	case feishutask.StatusProcess:
		return "process (still running)"
	}
	return "no status (the poll failed)"
}

func main() {
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait for the task")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: taskwait [-timeout 60s] TASK_ID\n"+
			"  with FEISHU_TOKEN=<access token>, or FEISHU_APP_ID and FEISHU_APP_SECRET;\n"+
			"  FEISHU_BASE_URL (default %s) selects the host\n", feishutask.BaseURLFeishu)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *timeout <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	taskID := flag.Arg(0)

	token := os.Getenv("FEISHU_TOKEN")
	opts := []feishutask.Option{}
	if base := os.Getenv("FEISHU_BASE_URL"); base != "" {
		opts = append(opts, feishutask.WithBaseURL(base))
	}
	if token == "" {
		appID, secret := os.Getenv("FEISHU_APP_ID"), os.Getenv("FEISHU_APP_SECRET")
		if appID == "" || secret == "" {
			fmt.Fprintln(os.Stderr, "taskwait: set FEISHU_TOKEN to a tenant_access_token or user_access_token, "+
				"or FEISHU_APP_ID and FEISHU_APP_SECRET")
			os.Exit(2)
		}
		opts = append(opts, feishutask.WithAppCredentials(appID, secret))
	}
	client, err := feishutask.NewClient(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "taskwait: cannot configure the client: %v\n", err)
		os.Exit(2)
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	status, err := client.Wait(ctx, token, taskID, func(p feishutask.Progress) {
		fmt.Printf("  %s: poll %d at %.1f s: %s\n", taskID, p.Polls, p.Elapsed.Seconds(), describe(p.Status))
	})
	if err != nil {
		var apiErr *feishutask.APIError
		if errors.As(err, &apiErr) {
			fmt.Printf("%s: error %d (%s): %s", taskID, apiErr.Code, feishutask.Describe(apiErr.Code), apiErr.Message)
			if apiErr.HTTPStatus != 0 {
				fmt.Printf(" [HTTP %d]", apiErr.HTTPStatus)
			}
			if apiErr.LogID != "" {
				fmt.Printf(" [log id %s]", apiErr.LogID)
			}
			if status != feishutask.StatusUnknown {
				fmt.Printf(" [last status %s]", status)
			}
			fmt.Println()
		} else {
			fmt.Printf("%s: %v\n", taskID, err)
		}
		client.Close()
		os.Exit(1)
	}
	fmt.Printf("%s: %s\n", taskID, describe(status))
	if status != feishutask.StatusSuccess {
		client.Close()
		os.Exit(1)
	}
}
