package main

import (
	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

// The console (tenancy/admin/console) at /console/: the operators' pages,
// every one a call of the admin API or the Insights API made in-process as
// the signed-in member, over the same stores and with the same failure
// limiter as the APIs the gateway serves. Members and their Argon2id
// password hashes live in state.db (rbac/sqlitestore's member store is an
// rbac.PasswordDriver).

// insightsConfig returns the configuration of the Insights API, shared by
// /insights/ and the console: every key's principal, accounts' service
// providers, the shared failure limiter.
func (g *Gateway) insightsConfig() insights.HandlerConfig {
	return insights.HandlerConfig{
		Index:      g.st.Index,
		Keys:       g.st.Keys, // every key's principal, with its service type's privileges
		Accounts:   g.srs.TenantCache(),
		FailedKeys: g.failed,
		Logger:     requestLog(g.log, "insights"),
	}
}

// newConsole builds the console on the admin API's configuration and the
// Insights API's. Failed sign-ins count in the failure limiter the APIs
// share, by source address.
func (g *Gateway) newConsole(acfg admin.Config, icfg insights.HandlerConfig) (*console.Console, error) {
	acfg.Logger = requestLog(g.log, "console-admin")
	return console.New(console.Config{
		Admin:         acfg,
		Insights:      icfg,
		Playback:      console.RecordingStorePlayback(g.srs.Recordings()), // the accounts' buckets
		FailedSignIns: g.failed,
		Logger:        requestLog(g.log, "console"),
	})
}
