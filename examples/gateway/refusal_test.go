package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
)

// refusalAccounts: an account whose allowlist excludes 127.0.0.1, and one
// that takes one recorded call at a time.
const refusalAccounts = `
accounts:
  - name: walled
    sip_realm: walled.test
    sip:
      users: [{username: sbc, password: walled-password-1}]
      allowlist: [10.0.0.0/8]
    recording: {enabled: true, record_all_calls: true, bucket: {vendor: memory}}
  - name: single
    sip_realm: single.test
    licensed_sessions: 1
    sip:
      users: [{username: sbc, password: single-password-1}]
    recording: {enabled: true, record_all_calls: true, bucket: {vendor: memory}}
`

// sippCall runs one sipp SIPREC call over TCP against the gateway.
func sippCall(t *testing.T, gw *gwProc, dir, scenario, realm, user, password string, extra ...string) (*sipptest.Result, error) {
	t.Helper()
	args := []string{"-s", "srs", "-key", "realm", realm, "-key", "mp2", strconv.Itoa(testenv.FreeUDPPortPair(t)),
		"-mp", strconv.Itoa(testenv.FreeUDPPortPair(t))}
	if user != "" {
		args = append(args, "-auth_uri", realm, "-au", user, "-ap", password)
	}
	args = append(args, extra...)
	return sipptest.Run(t, sipptest.Options{
		Scenario:  filepath.Join(dir, scenario),
		Remote:    gw.sipAddr(),
		Transport: sipptest.TCP,
		Dir:       dir,
		Args:      args,
		Timeout:   60 * time.Second,
	})
}

// TestRefusals: sipp, a real SIP peer, is refused for a wrong password (a
// fresh 407 challenge), a source outside the account's allowlist (403), and
// a call past the account's licensed sessions (486); each refusal is counted
// in the metrics with its reason.
func TestRefusals(t *testing.T) {
	sipptest.Path(t)
	gw := startGateway(t, gwOptions{Config: refusalAccounts})
	dir := sippDir(t)

	t.Run("wrong password", func(t *testing.T) {
		if _, err := sippCall(t, gw, dir, "siprec_refused_auth.xml", "single.test", "sbc", "not-the-password"); err != nil {
			t.Fatal(err)
		}
		if v := gw.metric(t, `voicegw_calls_total{reason="bad_credentials",result="refused"}`); v != 1 {
			t.Fatalf("bad_credentials refusals = %v, want 1", v)
		}
	})
	t.Run("source outside the allowlist", func(t *testing.T) {
		if _, err := sippCall(t, gw, dir, "siprec_refused_403.xml", "walled.test", "", ""); err != nil {
			t.Fatal(err)
		}
		if v := gw.metric(t, `voicegw_calls_total{reason="source_not_allowed",result="refused"}`); v != 1 {
			t.Fatalf("source_not_allowed refusals = %v, want 1", v)
		}
		if !strings.Contains(gw.stderr.String(), "reason=source_not_allowed") {
			t.Fatal("no log line for the refusal")
		}
	})
	t.Run("unknown realm", func(t *testing.T) {
		if _, err := sippCall(t, gw, dir, "siprec_refused_403.xml", "nobody.test", "", ""); err != nil {
			t.Fatal(err)
		}
		if v := gw.metric(t, `voicegw_calls_total{reason="unknown_realm",result="refused"}`); v != 1 {
			t.Fatalf("unknown_realm refusals = %v, want 1", v)
		}
	})
	licensedSessions(t, gw, dir)
}

// licensedSessions: with the account's one licence held by a call in
// progress, a second call gets 486 Busy Here; once the first ended, a call
// is accepted again (the licence was released).
func licensedSessions(t *testing.T, gw *gwProc, dir string) {
	t.Run("past the licensed sessions", func(t *testing.T) {
		holder := sipptest.Start(t, sipptest.Options{
			Scenario:  filepath.Join(dir, "siprec_src_auth.xml"),
			Remote:    gw.sipAddr(),
			Transport: sipptest.TCP,
			Dir:       sippDir(t),
			Args: []string{"-s", "srs", "-key", "realm", "single.test", "-auth_uri", "single.test", "-au", "sbc", "-ap", "single-password-1",
				"-key", "mp2", strconv.Itoa(testenv.FreeUDPPortPair(t)), "-mp", strconv.Itoa(testenv.FreeUDPPortPair(t)), "-key", "hold", "4000"},
		})
		waitFor(t, 10*time.Second, "the first call to be active", func() bool { return gw.metric(t, "voicegw_sessions_active") == 1 })
		if _, err := sippCall(t, gw, sippDir(t), "siprec_refused_486.xml", "single.test", "sbc", "single-password-1"); err != nil {
			t.Fatal(err)
		}
		gw.waitMetric(t, `voicegw_calls_total{reason="licensed_sessions",result="refused"}`, 1)
		if _, err := holder.Wait(); err != nil {
			t.Fatalf("the call holding the licence: %v", err)
		}
		// this one over UDP: the 3 KB SIPREC INVITE fits (sip.max_udp_message_size)
		dir := sippDir(t)
		if _, err := sipptest.Run(t, sipptest.Options{
			Scenario: filepath.Join(dir, "siprec_src_auth.xml"), Remote: gw.sipAddr(), Transport: sipptest.UDP, Dir: dir,
			Args: append(sippKeys(t, "single.test", "sbc", "single-password-1"), "-key", "hold", "500"),
		}); err != nil {
			t.Fatalf("a call (over UDP) after the licence was released: %v", err)
		}
	})
}
