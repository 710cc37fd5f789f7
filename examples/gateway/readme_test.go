package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
)

// TestREADMEFiveMinutes runs the README's "Five minutes with the gateway",
// steps 1 to 5, as written: the built gateway on its embedded defaults (SIP
// on 127.0.0.1:5060, HTTP on 127.0.0.1:8080, ./data) in a directory of its
// own; step 2's siprec-client command with the printed password, from the
// repository's root as the README runs it; step 3's find and soxi in the
// gateway's directory; step 4's curl with the printed key; step 5's -check
// of the documented example file. Each block is read from the README, so a
// README that drifts from the gateway fails here.
func TestREADMEFiveMinutes(t *testing.T) {
	bash := testenv.RequireTool(t, "bash", "apt-get install -y bash")
	testenv.RequireTool(t, "curl", "apt-get install -y curl")
	testenv.RequireTool(t, "soxi", "apt-get install -y sox")
	siprecClient(t) // warms the build cache go run uses
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(readme, []byte("## Five minutes with the gateway"))
	end := bytes.Index(readme, []byte("## Encrypted recording"))
	if start < 0 || end < start {
		t.Fatal(`README.md has no "Five minutes with the gateway" section before "Encrypted recording"`)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)\n\\s*```").FindAllSubmatch(readme[start:end], -1)
	if len(blocks) != 3 {
		t.Fatalf("the five minutes have %d sh blocks, want 3 (steps 2, 3 and 4)", len(blocks))
	}
	step := func(i int) string { // the block without the indentation of its list item
		return regexp.MustCompile(`(?m)^   `).ReplaceAllString(string(blocks[i][1]), "")
	}
	for _, addr := range []string{"127.0.0.1:5060", "127.0.0.1:8080"} {
		waitFor(t, 30*time.Second, addr+" free for the gateway's defaults", func() bool {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			l.Close()
			return true
		})
	}

	// 1. Start it (no configuration: the embedded defaults).
	dir := t.TempDir()
	var stdout, stderr syncBuffer
	gw := exec.Command(gatewayBin)
	gw.Dir, gw.Stdout, gw.Stderr = dir, &stdout, &stderr
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = gw.Process.Signal(syscall.SIGTERM)
		_ = gw.Wait()
		if t.Failed() {
			t.Logf("gateway stdout:\n%s\nstderr (tail):\n%s", stdout.String(), tail(stderr.String(), 4000))
		}
	})
	printed := func(label string) string {
		m := regexp.MustCompile(`(?m)^\s*` + label + `\s+(\S+)`).FindStringSubmatch(stdout.String())
		if m == nil {
			return ""
		}
		return m[1]
	}
	waitFor(t, 30*time.Second, "the demo account's secrets printed", func() bool {
		return printed("SIP password") != "" && printed("API key") != ""
	})
	password, key := printed("SIP password"), printed("API key")
	waitFor(t, 30*time.Second, "the HTTP API on 127.0.0.1:8080", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:8080")
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	run := func(script, wd string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", "-c", script)
		cmd.Dir = wd
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\nfailed: %v\n%s", script, err, out)
		}
		return string(out)
	}

	// 2. Place a recorded call, from the repository's root.
	call := step(0)
	if !strings.Contains(call, "THE-PRINTED-PASSWORD") {
		t.Fatalf("step 2 does not take the printed password:\n%s", call)
	}
	out := run(strings.ReplaceAll(call, "THE-PRINTED-PASSWORD", password), "../..")

	// 3. Find the file, in the gateway's directory.
	waitFor(t, 30*time.Second, "the recording in data/bucket", func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "data", "bucket", "*", "*", "*.wav"))
		return len(files) == 1
	})
	files, _ := filepath.Glob(filepath.Join(dir, "data", "bucket", "*", "*", "*.wav"))
	found := run(step(1), dir)
	objectKey := strings.TrimPrefix(files[0], filepath.Join(dir, "data", "bucket")+"/")
	for _, want := range []string{"data/bucket/" + objectKey, "Channels       : 2", "Sample Rate    : 8000"} {
		if !strings.Contains(found, want) {
			t.Errorf("step 3's output lacks %q:\n%s", want, found)
		}
	}

	// 4. Query it through the Insights API with the printed key.
	query := step(2)
	if !strings.Contains(query, "THE-PRINTED-KEY") {
		t.Fatalf("step 4 does not take the printed key:\n%s", query)
	}
	var answer string
	waitFor(t, 30*time.Second, "the session document in the Insights API", func() bool {
		answer = run(strings.ReplaceAll(query, "THE-PRINTED-KEY", key), dir)
		return strings.Contains(answer, `"total":1`)
	})
	for _, want := range []string{`"audio_url":"` + objectKey + `"`, `"call_status":"ended"`} {
		if !strings.Contains(answer, want) {
			t.Errorf("step 4's answer lacks %q:\n%s\n(step 2 printed:\n%s)", want, answer, out)
		}
	}

	// 5. Configure real accounts: the documented file passes -check, and a
	// bad value is refused naming its key, as the README says.
	if b, err := exec.Command(gatewayBin, "-config", "gateway.example.yaml", "-check").CombinedOutput(); err != nil {
		t.Fatalf("-check of gateway.example.yaml: %v\n%s", err, b)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("accounts:\n  - name: a\n    sip_realm: a.example\n    recording:\n      enabled: true\n      bucket: {vendor: s3, s3: {bucket: b}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(gatewayBin, "-config", bad, "-check").CombinedOutput()
	if err == nil || !strings.Contains(string(b), "accounts[0].recording.bucket.s3.region: missing") {
		t.Fatalf("-check of a bucket without region: %v\n%s", err, b)
	}
}
