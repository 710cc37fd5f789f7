package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readyz returns /readyz's status code and report.
func (p *gwProc) readyz(t *testing.T) (int, readyReport) {
	t.Helper()
	code, body := httpGet(t, p.url("/readyz"))
	var rep readyReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/readyz %d: %v: %q", code, err, body)
	}
	return code, rep
}

// waitReady waits (the answer is cached for a second) until /readyz answers
// code, and returns its report.
func (p *gwProc) waitReady(t *testing.T, code int) readyReport {
	t.Helper()
	var rep readyReport
	var got int
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, rep = p.readyz(t); got == code {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %+v, want %d", got, rep, code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadyz: /readyz is ready with every check ok; it turns 503, naming
// the check that fails, when the state database's file is moved away or the
// spool directory disappears, while /healthz (liveness) stays 200; it is
// ready again once they are back.
func TestReadyz(t *testing.T) {
	gw := startGateway(t, gwOptions{})
	rep := gw.waitReady(t, http.StatusOK)
	for _, c := range []string{"sip", "state_db", "session_index", "spool", "recordings"} {
		if rep.Checks[c] != "ok" {
			t.Errorf("check %s = %q, want ok (report %+v)", c, rep.Checks[c], rep)
		}
	}
	for _, tc := range []struct{ check, path string }{
		{"state_db", stateDBName},
		{"spool", spoolDir},
	} {
		t.Run(tc.check, func(t *testing.T) {
			path := filepath.Join(gw.dataDir, tc.path)
			if err := os.Rename(path, path+".away"); err != nil {
				t.Fatal(err)
			}
			rep := gw.waitReady(t, http.StatusServiceUnavailable)
			if rep.Status != "not_ready" || rep.Checks[tc.check] == "ok" || rep.Checks[tc.check] == "" {
				t.Errorf("report %+v: want not_ready with %s failing", rep, tc.check)
			}
			for name, v := range rep.Checks {
				if name != tc.check && v != "ok" {
					t.Errorf("check %s = %q, want ok: only %s is unavailable", name, v, tc.check)
				}
			}
			if code, _ := httpGet(t, gw.url("/healthz")); code != http.StatusOK {
				t.Errorf("/healthz = %d while not ready, want 200: liveness is not readiness", code)
			}
			if err := os.Rename(path+".away", path); err != nil {
				t.Fatal(err)
			}
			gw.waitReady(t, http.StatusOK)
		})
	}
}

// TestVersion: -version prints the build, and voicegw_build_info carries
// the same version, commit and Go version.
func TestVersion(t *testing.T) {
	code, out, errOut := runGateway(t, "-version")
	if code != 0 {
		t.Fatalf("-version: exit %d: %s", code, errOut)
	}
	m := regexp.MustCompile(`^gateway (\S+) \(commit ([^,)]+)(, modified)?\) (go\S+) \S+/\S+\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("-version printed %q", out)
	}
	gw := startGateway(t, gwOptions{})
	sample := `voicegw_build_info{commit="` + m[2] + `",goversion="` + m[4] + `",version="` + m[1] + `"}`
	if v := gw.metric(t, sample); v != 1 {
		_, body := httpGet(t, gw.url("/metrics"))
		t.Fatalf("%s = %v, want 1; build_info lines: %q", sample, v, grepLines(body, "voicegw_build_info"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}
