package redact

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hooks.example.com/reg", "https://hooks.example.com/reg"},
		{"https://u:p4ss@hooks.example.com/reg?token=s3cr3t#frag", "https://hooks.example.com/reg?REDACTED"},
		{"http://host:8080/x?", "http://host:8080/x?REDACTED"},
		{"::not a url", "(unparsable URL)"},
		// opaque URLs: url.Parse keeps their credentials in Opaque
		{"https:user:p4ss@hooks.example.com/reg?token=s3cr3t", "hooks.example.com/reg"},
		{"user:t0ken@collector:4318", "collector:4318"},
		{"collector:4318", "collector:4318"},
		// an '@' url.Parse does not read as the end of user information
		{"http:/user:pass@host", "host"},
		{"///user:pass@host", "host"},
		{"http:///user:pass@host", "host"},
		{"http://user:/abc@host/x", "host/x"},
		{"https://tok:2024/x+y==@collector:4318", "collector:4318"},
		{"a/user:pass@host", "host"},
		{"https://u:p@h/x@y?token=s", "https://h/x@y?REDACTED"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorFromHTTPClient(t *testing.T) {
	raw := "http://user:pw-secret@127.0.0.1:1/hook?token=tok-secret"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = http.DefaultClient.Do(req)
	if err == nil || !strings.Contains(err.Error(), "tok-secret") {
		t.Fatalf("net/http error %v does not quote the URL; the test proves nothing", err)
	}
	got := Error(err, raw)
	for _, s := range []string{"tok-secret", "pw-secret"} {
		if strings.Contains(got.Error(), s) {
			t.Errorf("redacted error %q still holds %q", got, s)
		}
	}
	if !errors.Is(got, context.Canceled) {
		t.Errorf("redacted error %v no longer matches context.Canceled", got)
	}
	if Error(nil, raw) != nil {
		t.Error("Error(nil) is not nil")
	}
	plain := errors.New("other")
	if Error(plain, raw) != plain {
		t.Error("an error not quoting the URL was changed")
	}
}
