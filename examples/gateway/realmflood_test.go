package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSecurityRandomRealmFlood attacks the tenant lookup: one source sends
// INVITEs over UDP, each naming a realm never seen before, so each would
// cost a store read (on a database every gateway shares, with
// PostgreSQL). The gateway reads at most the tenant cache's budget (100
// a second, srs.TenantCacheOptions.LookupRate) and answers the rest 503
// with Retry-After, counted in voicegw_tenant_lookups_declined_total;
// then the victim account's calls are still recorded, and its files and
// goroutines are back to their baseline.
func TestSecurityRandomRealmFlood(t *testing.T) {
	requireLinux(t)
	bucket := t.TempDir()
	gw := startGateway(t, gwOptions{SIP: secSIP, HTTP: "pprof: true", RTPPorts: 40, Config: securityAccounts(bucket, true)})
	victim := &recorded{bucket: bucket, seen: map[string]bool{}}
	legitCall(t, gw, victim)
	base := gw.resources(t)

	const flood = 3000
	invite := func(i int) string {
		return fmt.Sprintf("INVITE sip:srs@r%d.flood.test SIP/2.0\r\nv: SIP/2.0/UDP LOCAL;branch=z9hG4bKrealm%d\r\n"+
			"f: <sip:a@b>;tag=1\r\nt: <sip:srs@r%d.flood.test>\r\ni: realm-%d\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n", i, i, i, i)
	}
	u := dialSIP(t, gw, "127.0.0.2", "udp")
	logBefore := len(gw.stderr.String())
	codes := map[int]int{}
	start := time.Now()
	for i := range flood {
		u.send(invite(i))
		for len(u.resps) > 0 {
			codes[(<-u.resps).status]++
		}
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // loopback's socket buffers, not the gateway, would drop
		}
	}
	u.send(invite(flood))
	m := u.response("1 INVITE", 5*time.Second)
	elapsed := time.Since(start) // the gateway read (or declined) every lookup within it
	if m == nil || (m.status != 503 && m.status != 403) {
		t.Fatalf("after %d INVITEs for random realms the next got %v, want 503 (or 403 within the budget)", flood, m)
	}
	for len(u.resps) > 0 {
		codes[(<-u.resps).status]++
	}
	declined := gw.metric(t, "voicegw_tenant_lookups_declined_total")
	// the store reads the budget allows over the flood: a burst of 100,
	// then 100 a second (the machine's speed loosens the bound, never the
	// check that past it nothing is read). Each read gave a 403 (the realm
	// is served by the default account, victim, whose allowlist refuses
	// 127.0.0.2); a datagram lost on loopback is neither read nor
	// declined, so the 403s read, not the INVITEs sent, count the reads.
	allowed := 100 + 100*elapsed.Seconds()
	t.Logf("%d INVITEs for random realms in %s: answers %v; %.0f declined without a store read (budget: %.0f reads)", flood+1, elapsed.Round(time.Millisecond), codes, declined, allowed)
	if codes[503] == 0 || declined < float64(codes[503]) {
		t.Fatalf("answers %v, %.0f declined: want 503s, each counted", codes, declined)
	}
	if read := float64(codes[403]); read > allowed+1 {
		t.Fatalf("%.0f lookups read the store during the flood (403s), budget %.0f", read, allowed)
	}
	// every answer logs a line naming the attacker's realm: the Guard's
	// log filter must keep them to a few
	if logs := gw.stderr.String()[logBefore:]; len(logs) > 32<<10 || strings.Count(logs, "flood.test") > 40 {
		t.Fatalf("%d bytes of log, %d lines naming a flood realm, for %d INVITEs:\n%s", len(logs), strings.Count(logs, "flood.test"), flood+1, tail(logs, 4096))
	}
	gw.alive(t)
	survives(t, gw, victim, base)
}
