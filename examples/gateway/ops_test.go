package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/voicegw/voicegw/internal/pgtest"
	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/siprec/srs"
)

// readyz returns /readyz's status code and report.
func (p *gwProc) readyz(t *testing.T) (int, srs.ReadyReport) {
	t.Helper()
	code, body := httpGet(t, p.url("/readyz"))
	var rep srs.ReadyReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/readyz %d: %v: %q", code, err, body)
	}
	return code, rep
}

// waitReady waits (the answer is cached for a second) until /readyz answers
// code, and returns its report.
func (p *gwProc) waitReady(t *testing.T, code int) srs.ReadyReport {
	t.Helper()
	var rep srs.ReadyReport
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

// opsFamilies are the metric families issue 22 asks for, each of which
// TestMetricsPromtool requires in the gateway's /metrics.
var opsFamilies = []string{
	"voicegw_build_info", "voicegw_ready",
	"voicegw_admission_duration_seconds", "voicegw_session_duration_seconds",
	"voicegw_recording_finalize_duration_seconds", "voicegw_upload_duration_seconds", "voicegw_upload_size_bytes",
	"voicegw_account_calls_total", "voicegw_recordings_spooled", "voicegw_spool_oldest_age_seconds",
}

// TestMetricsPromtool runs calls through the built gateway with
// metrics.max_accounts 1 — one refused by the allowlist of account
// "walled", one recorded for account "single", one for a realm no account
// has — and then checks its real /metrics: promtool check metrics finds no
// problem; every family of opsFamilies is there; the per-account counter
// has walled's SID, "other" for single (past the bound) and "unknown" for
// the realm nobody has; the call's admission, duration, finalize and upload
// were observed once each. alerts.yaml passes promtool check rules and its
// unit tests (alerts_test.yaml), and every voicegw_ metric its expressions
// use is one the gateway serves.
func TestMetricsPromtool(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool", "apt-get install -y prometheus")
	sipptest.Path(t)
	gw := startGateway(t, gwOptions{Config: refusalAccounts + "metrics: {max_accounts: 1}\n"})
	dir := sippDir(t)
	if _, err := sippCall(t, gw, dir, "siprec_refused_403.xml", "walled.test", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sipptest.Run(t, sipptest.Options{
		Scenario: filepath.Join(dir, "siprec_src_auth.xml"), Remote: gw.sipAddr(), Transport: sipptest.TCP, Dir: dir,
		Args: append(sippKeys(t, "single.test", "sbc", "single-password-1"), "-key", "hold", "300"),
	}); err != nil {
		t.Fatalf("a recorded call: %v", err)
	}
	if _, err := sippCall(t, gw, dir, "siprec_refused_403.xml", "nobody.test", "", ""); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"voicegw_admission_duration_seconds", "voicegw_session_duration_seconds",
		"voicegw_recording_finalize_duration_seconds", "voicegw_upload_duration_seconds", "voicegw_upload_size_bytes"} {
		gw.waitMetric(t, h+"_count", 1)
	}
	if v := gw.metric(t, "voicegw_upload_size_bytes_sum"); v < 1000 {
		t.Errorf("voicegw_upload_size_bytes_sum = %v, want the recording's size", v)
	}

	_, body := httpGet(t, gw.url("/metrics"))
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, f := range opsFamilies {
		if !strings.Contains(body, "\n# TYPE "+f+" ") {
			t.Errorf("/metrics has no family %s", f)
		}
	}
	acct := regexp.MustCompile(`(?m)^voicegw_account_calls_total\{account="([^"]+)",result="([^"]+)"\} (\S+)$`)
	got := map[string]string{}
	for _, m := range acct.FindAllStringSubmatch(body, -1) {
		key := m[1] + "/" + m[2]
		if m[1] != "other" && m[1] != "unknown" {
			key = "SID/" + m[2]
		}
		got[key] = m[3]
	}
	// sipp's call was challenged once, then accepted
	want := map[string]string{"SID/refused": "1", "other/challenged": "1", "other/accepted": "1", "unknown/refused": "1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("voicegw_account_calls_total: got %v, want %v\n%q", got, want, grepLines(body, "voicegw_account_calls_total{"))
	}

	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	rules, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`\bvoicegw_[a-z_]+`).FindAllString(string(rules), -1) {
		fam := strings.TrimSuffix(name, "_bucket")
		if !strings.Contains(body, "\n# TYPE "+fam+" ") {
			t.Errorf("alerts.yaml uses %s, which the gateway does not serve", name)
		}
	}
}

// TestLogLevelSIGHUP: at log.level warn a refused call is not logged; after
// the file says info and the gateway gets SIGHUP (which does not stop it),
// the next refused call is.
func TestLogLevelSIGHUP(t *testing.T) {
	sipptest.Path(t)
	gw := startGateway(t, gwOptions{LogLevel: "warn", Config: refusalAccounts}) // no default account: unknown realms are refused
	dir := sippDir(t)
	if _, err := sippCall(t, gw, dir, "siprec_refused_403.xml", "first.test", "", ""); err != nil {
		t.Fatal(err)
	}
	gw.waitMetric(t, `voicegw_calls_total{reason="unknown_realm",result="refused"}`, 1)
	if strings.Contains(gw.stderr.String(), `msg="call refused"`) {
		t.Fatal("a refused call was logged at log.level warn")
	}
	cfg, err := os.ReadFile(gw.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, gw.cfgPath, strings.Replace(string(cfg), "log: {level: warn}", "log: {level: info}", 1))
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the level change to be logged", func() bool {
		return strings.Contains(gw.stderr.String(), `msg="SIGHUP: log level set" from=WARN to=INFO`)
	})
	if _, err := sippCall(t, gw, dir, "siprec_refused_403.xml", "second.test", "", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the refused call to be logged at info", func() bool {
		return strings.Contains(gw.stderr.String(), `msg="call refused" reason=unknown_realm`)
	})
	select {
	case <-gw.done:
		t.Fatalf("the gateway exited after SIGHUP: %v", gw.waitErr)
	default:
	}
}

// TestWrongPasswordLoggedOnce: a call with a wrong password (sipp, over
// TCP: challenged, then refused for its bad credentials) is counted once as
// refused and makes exactly one log line at info or above — the recording
// server's "call refused" with its reason; the Guard's own line about it is
// at debug — and nothing is logged at ERROR, nor sipgo's "TCP ref went
// negative" at shutdown.
func TestWrongPasswordLoggedOnce(t *testing.T) {
	sipptest.Path(t)
	gw := startGateway(t, gwOptions{LogLevel: "info", Config: refusalAccounts})
	if _, err := sippCall(t, gw, sippDir(t), "siprec_refused_auth.xml", "single.test", "sbc", "not-the-password"); err != nil {
		t.Fatal(err)
	}
	gw.waitMetric(t, `voicegw_calls_total{reason="bad_credentials",result="refused"}`, 1)
	if v := gw.metric(t, `voicegw_calls_total{reason="credentials_required",result="challenged"}`); v != 1 {
		t.Errorf("challenges = %v, want 1 (the first INVITE)", v)
	}
	gw.stop() // what the gateway logs late (at shutdown) counts too
	var lines []string
	for _, l := range strings.Split(gw.stderr.String(), "\n") {
		if strings.Contains(l, "call_id=") {
			lines = append(lines, l)
		}
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "ref went negative") {
			t.Errorf("logged at ERROR, or sipgo's shutdown noise: %s", l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `msg="call refused" reason=bad_credentials`) {
		t.Fatalf("log lines about the call: %d, want the one \"call refused\" line:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// the log vocabulary: the account as its SID and its name
	if !regexp.MustCompile(`account=\S+ account_name=single `).MatchString(lines[0]) {
		t.Errorf("the refusal names no account SID and name: %s", lines[0])
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver: what it was sent, decoded.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans map[string][]*tracepb.Span // by name
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{spans: map[string][]*tracepb.Span{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &msg)
		}
		if err != nil || req.URL.Path != "/v1/traces" {
			t.Errorf("OTLP request %s %s: %v", req.Method, req.URL.Path, err)
			w.WriteHeader(400)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					r.spans[sp.Name] = append(r.spans[sp.Name], sp)
				}
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) named(name string) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spans[name]
}

// TestTracingOTLP: with tracing.otlp_endpoint set, a call recorded by the
// built gateway (sipp) reaches an OTLP/HTTP receiver as one trace: the
// srs.session span, with the call's Call-ID, and its authentication, admission, two
// stream, finalize, document and upload children pointing to it.
func TestTracingOTLP(t *testing.T) {
	sipptest.Path(t)
	otlp := newOTLPReceiver(t)
	gw := startGateway(t, gwOptions{Config: refusalAccounts + "tracing: {otlp_endpoint: " + otlp.srv.URL + "/v1/traces}\n"})
	dir := sippDir(t)
	if _, err := sipptest.Run(t, sipptest.Options{
		Scenario: filepath.Join(dir, "siprec_src_auth.xml"), Remote: gw.sipAddr(), Transport: sipptest.TCP, Dir: dir,
		Args: append(sippKeys(t, "single.test", "sbc", "single-password-1"), "-key", "hold", "300"),
	}); err != nil {
		t.Fatalf("a recorded call: %v", err)
	}
	gw.waitMetric(t, "voicegw_upload_duration_seconds_count", 1)
	gw.stop() // exports what the batch still holds
	roots := otlp.named("srs.session")
	if len(roots) != 1 {
		t.Fatalf("%d srs.session spans, want 1", len(roots))
	}
	root := roots[0]
	var callID string
	for _, a := range root.Attributes {
		if a.Key == "sip.call_id" {
			callID = a.Value.GetStringValue()
		}
	}
	if !strings.Contains(callID, "@127.0.0.1") {
		t.Errorf("srs.session's sip.call_id = %q, want sipp's Call-ID", callID)
	}
	for name, n := range map[string]int{"srs.authentication": 1, "srs.admission": 1, "srs.stream": 2, "srs.recording.finalize": 1, "srs.session.document": 1, "srs.upload": 1} {
		spans := otlp.named(name)
		if len(spans) != n {
			t.Errorf("%d %s spans, want %d", len(spans), name, n)
		}
		for _, sp := range spans {
			if string(sp.ParentSpanId) != string(root.SpanId) || string(sp.TraceId) != string(root.TraceId) {
				t.Errorf("%s is not a child of srs.session", name)
			}
		}
	}
}

// TestOpsConfigErrors: a bad metrics.max_accounts or tracing.otlp_endpoint
// stops the start with a problem naming the key and the value.
func TestOpsConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, key, want string }{
		{"metrics: {max_accounts: -1}", "metrics.max_accounts", "-1"},
		{"tracing: {otlp_endpoint: 'collector:4318'}", "tracing.otlp_endpoint", `"collector:4318"`},
		{"tracing: {otlp_endpoint: 'ftp://collector/v1/traces'}", "tracing.otlp_endpoint", "ftp://"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := parseConfig("test.yaml", []byte(tc.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("parseConfig = %v, want a ConfigError", err)
			}
			found := false
			for _, p := range ce.Problems {
				found = found || p.Key == tc.key && strings.Contains(p.Message, tc.want)
			}
			if !found {
				t.Fatalf("problems %v, want %s naming %s", ce.Problems, tc.key, tc.want)
			}
		})
	}
	if _, err := parseConfig("test.yaml", []byte("tracing: {otlp_endpoint: 'http://127.0.0.1:4318/v1/traces'}\nmetrics: {max_accounts: 0}")); err != nil {
		t.Fatalf("a valid tracing and metrics configuration: %v", err)
	}
}

// TestReadyzPostgres: on PostgreSQL /readyz checks the database (a ping)
// instead of the SQLite session index, and turns 503 naming it when the
// database server stops.
func TestReadyzPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	gw := startGateway(t, gwOptions{Config: pgGatewayConfig(dsn, filepath.Join(t.TempDir(), "key"), t.TempDir())})
	rep := gw.waitReady(t, http.StatusOK)
	if rep.Checks["database"] != "ok" || rep.Checks["state_db"] != "ok" {
		t.Fatalf("report %+v: want database and state_db (the journal) ok", rep)
	}
	if _, ok := rep.Checks["session_index"]; ok {
		t.Errorf("report %+v: the session index is in PostgreSQL, not a SQLite file", rep)
	}
	srv.Stop()
	rep = gw.waitReady(t, http.StatusServiceUnavailable)
	if !strings.HasPrefix(rep.Checks["database"], "postgres: ") {
		t.Errorf("report %+v: want the database check failing", rep)
	}
}
