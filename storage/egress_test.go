package storage_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// TestEgressRefusesTenantEndpoint: with Options.Egress, a bucket whose
// endpoint is a loopback server is refused at connect time — the probe
// fails with ErrEgressRefused naming the address, not retried, and no
// connection reaches the server — while an allowlisted real S3 server
// passes the same probe.
func TestEgressRefusesTenantEndpoint(t *testing.T) {
	var conns atomic.Int64
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("instance metadata"))
	}))
	internal.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	internal.Start()
	defer internal.Close()

	ctx := context.Background()
	cfg := storage.Config{Vendor: storage.VendorS3Compatible, S3Compatible: &storage.S3CompatibleConfig{
		Endpoint: internal.URL, PathStyle: true, Bucket: "recordings", AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: secret.String("x")}}
	opts := &storage.Options{Egress: &egress.Policy{}, Retry: storage.RetryPolicy{Attempts: 4}}
	err := storage.Test(ctx, cfg, opts)
	if !errors.Is(err, storage.ErrEgressRefused) || !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("Test = %v, want ErrEgressRefused", err)
	}
	host := internal.Listener.Addr().String()
	if !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("error %q does not name %s as loopback", err, host)
	}
	if errors.Is(err, storage.ErrUnreachable) {
		t.Fatalf("a refusal is not an unreachable endpoint (it would be retried): %v", err)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the refused endpoint", n)
	}

	// Upload through an opened bucket: refused too, once.
	b, err := storage.Open(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Upload(ctx, "k", strings.NewReader("x"), 1, nil); !errors.Is(err, storage.ErrEgressRefused) {
		t.Fatalf("Upload = %v, want ErrEgressRefused", err)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the refused endpoint", n)
	}

	// The operator's allowlist lets a private (here: loopback) store in.
	srv := storagetest.NewS3Server(t)
	srv.CreateBucket("recordings")
	allow := &egress.Policy{}
	if err := allow.AddAllow("127.0.0.0/8", "::1/128"); err != nil {
		t.Fatal(err)
	}
	if err := storage.Test(ctx, srv.Config("recordings", nil), &storage.Options{Egress: allow}); err != nil {
		t.Fatalf("allowlisted: %v", err)
	}
	if err := storage.Test(ctx, srv.Config("recordings", nil), &storage.Options{Egress: &egress.Policy{}}); !errors.Is(err, storage.ErrEgressRefused) {
		t.Fatalf("real S3 server on loopback without the allowance: %v", err)
	}
}
