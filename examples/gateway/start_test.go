package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFirstStartPrintsDemoOnce: a start without accounts makes the demo
// account and prints its SIP password, API key and the commands to use them;
// the next start prints no secret, and the log never holds one.
func TestFirstStartPrintsDemoOnce(t *testing.T) {
	data := t.TempDir()
	gw := startGateway(t, gwOptions{DataDir: data})
	waitFor(t, 10e9, "the welcome text", func() bool { return strings.Contains(gw.stdout.String(), "curl") })
	out := gw.stdout.String()
	pw := regexp.MustCompile(`SIP password +(\S+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`API key +(\S+)`).FindStringSubmatch(out)
	if pw == nil || key == nil {
		t.Fatalf("no credentials in the first start's output:\n%s", out)
	}
	for _, want := range []string{"demo.voicegw.test", "go run ./examples/siprec-client -srs \"sip:127.0.0.1:", "-user demo -password '" + pw[1] + "'",
		"X-Vgai-Key: " + key[1], "/insights/sessions?from_date="} {
		if !strings.Contains(out, want) {
			t.Errorf("the welcome text lacks %q:\n%s", want, out)
		}
	}
	// the API key works
	code, body := httpGetKey(t, gw.url("/insights/sessions?from_date=2020-01-01&to_date=2020-01-02"), key[1])
	if code != 200 || !strings.Contains(body, `"total":0`) {
		t.Fatalf("Insights API with the demo key: %d %s", code, body)
	}
	gw.stop()

	gw2 := startGateway(t, gwOptions{DataDir: data, Ports: gw})
	gw2.stop()
	for name, s := range map[string]string{"second stdout": gw2.stdout.String(), "first stderr": gw.stderr.String(), "second stderr": gw2.stderr.String()} {
		if strings.Contains(s, pw[1]) || strings.Contains(s, key[1]) {
			t.Errorf("%s holds a demo secret:\n%s", name, s)
		}
	}
	if !strings.Contains(gw2.stderr.String(), "demo account ready") {
		t.Errorf("the second start does not mention the demo account:\n%s", gw2.stderr.String())
	}
}

// TestBadConfigurationRefused: the binary refuses a bad configuration at
// start with exit status 2 and a message naming each bad key.
func TestBadConfigurationRefused(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/bad.yaml"
	writeFile(t, path, `
sip: {listen: 127.0.0.1:5060, colour: blue}
`)
	code, _, stderr := runGateway(t, "-config", path)
	if code != 2 || !strings.Contains(stderr, "sip.colour: unknown key (line 2)") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	writeFile(t, path, `
accounts:
  - name: a
    sip_realm: a.example.com
  - name: b
    sip_realm: b.example.com
    sip: {users: [{username: u, password: hunter2-is-long}]}
    recording:
      enabled: true
      bucket: {vendor: s3, s3: {bucket: recs, access_key_id: AKIAIOSFODNN7EXAMPLE, secret_access_key: wJalrXUtnFEMI-secret}}
`)
	code, _, stderr = runGateway(t, "-config", path)
	if code != 2 || !strings.Contains(stderr, "accounts[1].recording.bucket.s3.region: missing") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "wJalrXUtnFEMI-secret") || strings.Contains(stderr, "hunter2-is-long") {
		t.Fatalf("a secret in the error:\n%s", stderr)
	}
	// a default account no account has is found out at start, against the
	// store (srsstate.State.DefaultAccount)
	writeFile(t, path, fmt.Sprintf("data_dir: %s\nsip: {listen: 127.0.0.1:0, default_account: nobody}\nhttp: {listen: 127.0.0.1:0}\n", filepath.Join(dir, "data")))
	code, _, stderr = runGateway(t, "-config", path)
	if code != 2 || !strings.Contains(stderr, `sip.default_account: "nobody": no such account`) {
		t.Fatalf("unknown default account: exit %d, stderr:\n%s", code, stderr)
	}
	// an account recording MP3 without LAME (srs.OpenLAME)
	writeFile(t, path, fmt.Sprintf(`data_dir: %s
sip: {listen: 127.0.0.1:0}
http: {listen: 127.0.0.1:0}
recording: {lame_path: /nonexistent/libmp3lame.so.0}
accounts:
  - name: wav
    sip_realm: wav.example.com
  - name: mp3
    sip_realm: mp3.example.com
    recording: {enabled: true, format: mp3, bucket: {vendor: file, file: {dir: %s}}}
`, filepath.Join(dir, "data2"), filepath.Join(dir, "bucket")))
	code, _, stderr = runGateway(t, "-config", path)
	if code != 2 || !strings.Contains(stderr, "accounts[1].recording.format: mp3: ") {
		t.Fatalf("MP3 without LAME: exit %d, stderr:\n%s", code, stderr)
	}
	example, _ := filepath.Abs("gateway.example.yaml")
	code, stdout, stderr := runGateway(t, "-config", example, "-check")
	if code != 0 || !strings.Contains(stdout, "configuration OK") {
		t.Fatalf("-check of the example: exit %d\n%s%s", code, stdout, stderr)
	}
}
