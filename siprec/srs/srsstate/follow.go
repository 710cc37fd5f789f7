package srsstate

import (
	"context"
	"log/slog"

	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// Follow makes srv see the changes to accounts and applications that any
// process commits to a shared database (Watch, with srv's caches as the
// function): a Change with All drops every tenant srv cached, the others
// srs.Server.Invalidate their accounts. srv's TenantCache TTL bounds the
// rest. On SQLite it does nothing and returns nil (changes are this
// process's own: see AdminNotifier). Errors are Watch's.
func (s *State) Follow(ctx context.Context, srv *srs.Server) error {
	return s.Watch(ctx, func(c Change) {
		if c.All {
			srv.TenantCache().InvalidateAll()
		}
		srv.Invalidate(c.Accounts...)
	})
}

// AdminNotifier returns the admin API's change notifier
// (admin.Config.Notifier, called before the API answers) that makes a
// change made through the API count at once on srv: a change of an
// account or of its applications drops what srv cached of the account —
// its tenant for the SIP guard (realm, allowlist, SIP users), the account
// its admission reads, its open bucket — so the next request sees it. API
// keys and members need nothing: their stores are read on every request.
//
// A deleted account's realm stops resolving: its new calls are refused (or
// judged by srv's default account). Its sessions in progress are not cut:
// they go on until their BYE and get their documents, but their
// recordings wait in srv's spool, since the account's bucket went with it;
// the notifier logs which sessions to log (a warning; nil discards).
func AdminNotifier(srv *srs.Server, log *slog.Logger) admin.Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return admin.NotifierFunc(func(_ context.Context, c admin.Change) {
		if (c.Resource != admin.ResourceAccount && c.Resource != admin.ResourceApplication) || c.Account == "" {
			return
		}
		srv.Invalidate(tenancy.SID(c.Account))
		if ids := srv.SessionsOf(tenancy.SID(c.Account)); c.Resource == admin.ResourceAccount && c.Op == admin.OpDelete && len(ids) > 0 {
			log.Warn("account deleted during sessions: they go on until their BYE; their recordings will wait in the spool (no bucket)",
				"account", c.Account, "sessions", ids)
		}
	})
}
