package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage"
)

// Azurite's well-known development account (documented by Microsoft; it is
// not a secret).
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Azurite is a running azurite-blob (npm package azurite), Microsoft's Azure
// Blob Storage emulator, which checks Shared Key signatures and SAS tokens
// like Azure does.
type Azurite struct {
	// Port is the blob service's loopback port.
	Port int
	cmd  *exec.Cmd
	out  *lockedBuffer
}

// StartAzurite starts azurite-blob on a free loopback port with its data in
// a temporary directory, and stops it when t ends. Without azurite-blob the
// test is skipped (failed under CI=true).
func StartAzurite(t testing.TB) *Azurite {
	t.Helper()
	bin := testenv.RequireTool(t, "azurite-blob", "npm install -g azurite")
	dir := t.TempDir()
	var lastErr error
	for range 3 {
		port := testenv.FreePort(t)
		a := &Azurite{Port: port, out: &lockedBuffer{}}
		a.cmd = exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence", "--loose")
		a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
		a.cmd.Dir = dir // whatever Azurite writes stays in the temporary directory
		if err := a.cmd.Start(); err != nil {
			t.Fatalf("start azurite-blob: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- a.cmd.Wait() }()
		if err := waitListening(port, done, 20*time.Second); err != nil {
			_ = a.cmd.Process.Kill()
			lastErr = fmt.Errorf("%w; output:\n%s", err, a.out.String())
			continue
		}
		t.Cleanup(func() {
			_ = a.cmd.Process.Kill()
			<-done
		})
		return a
	}
	t.Fatalf("azurite-blob did not start: %v", lastErr)
	return nil
}

func waitListening(port int, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("azurite-blob exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("azurite-blob not listening on port %d after %v", port, timeout)
}

// ConnectionString returns the development account's connection string.
func (a *Azurite) ConnectionString() secret.String { return a.connectionString(azuriteKey) }

// WrongConnectionString returns a connection string with a wrong account key.
func (a *Azurite) WrongConnectionString() secret.String {
	k := make([]byte, 64)
	_, _ = rand.Read(k)
	return a.connectionString(base64.StdEncoding.EncodeToString(k))
}

func (a *Azurite) connectionString(key string) secret.String {
	return secret.String(fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%d/%s;",
		azuriteAccount, key, a.Port, azuriteAccount))
}

// Config returns an Azure configuration of container on this emulator.
func (a *Azurite) Config(containerName string, tags storage.Tags) storage.Config {
	return storage.Config{Vendor: storage.VendorAzure, Azure: &storage.AzureConfig{
		Container: containerName, ConnectionString: a.ConnectionString(), Tags: tags,
	}}
}

// Client returns an azblob client of the emulator (the vendor's own client).
func (a *Azurite) Client() (*azblob.Client, error) {
	return azblob.NewClientFromConnectionString(a.ConnectionString().Reveal(), nil)
}

// CreateContainer creates a container.
func (a *Azurite) CreateContainer(t testing.TB, name string) {
	t.Helper()
	c, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContainer(context.Background(), name, &container.CreateOptions{}); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
}

// BlobTags returns the blob index tags of container/name, read with the
// azblob client's GetTags.
func (a *Azurite) BlobTags(ctx context.Context, containerName, name string) (map[string]string, error) {
	c, err := a.Client()
	if err != nil {
		return nil, err
	}
	resp, err := c.ServiceClient().NewContainerClient(containerName).NewBlobClient(name).GetTags(ctx, nil)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, tag := range resp.BlobTagSet {
		m[*tag.Key] = *tag.Value
	}
	return m, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
