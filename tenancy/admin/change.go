package admin

import "context"

// Resource kinds, as they appear in Change.Resource and AuditRecord.Resource.
const (
	ResourceServiceProvider = "service_provider"
	ResourceAccount         = "account"
	ResourceApplication     = "application"
	ResourceAPIKey          = "api_key"
	ResourceMember          = "member"
	ResourceRole            = "role"
	ResourceSMTP            = "smtp"
)

// Operations of a Change.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
	// OpRevoke: an API key was revoked (it stays listed).
	OpRevoke = "revoke"
	// OpRotate: an account's webhook secret was rotated.
	OpRotate = "rotate"
)

// Change tells a running gateway what the admin API just changed, so it
// drops what it cached at once instead of waiting for a timeout.
//
// What a gateway typically does with each:
//
//   - ResourceAccount: drop the account's cached tenant (the SIP guard's
//     realm lookup, its allowlist and SIP users: Fields has "sip"), every
//     realm in Realms (a changed realm must stop resolving to the account),
//     its bucket (Fields has "recording": the next recording goes to the new
//     bucket), its webhook secrets (OpRotate, "webhook_secret") and its
//     limits ("licensed_sessions", "max_units", "unit"). OpDelete: refuse
//     the account's new calls.
//   - ResourceApplication: drop the cached application (record all calls).
//   - ResourceAPIKey (OpDelete, OpRevoke): drop any cached verdict for the
//     key; rbac.KeyStore itself caches nothing.
//   - ResourceMember, ResourceRole: drop cached principals of members.
//   - ResourceServiceProvider, ResourceSMTP: platform settings.
type Change struct {
	// Resource is the kind of resource (Resource* constants).
	Resource string
	// Op is the operation (Op* constants).
	Op string
	// ID identifies the resource: an account or application SID, a key,
	// member or role ID, a service provider ID; "platform" for SMTP.
	ID string
	// Account and ServiceProvider are the tenant the resource belongs to
	// ("" for the platform). For an account moved to another service
	// provider, ServiceProvider is the new one.
	Account         string
	ServiceProvider string
	// Fields are the fields an update changed (tenancy.Field* names for an
	// account: "sip", "recording", "sip_realm", ...).
	Fields []string
	// Realms are the SIP realms the change affects, before and after (an
	// account's realm change lists both), for caches keyed by realm.
	Realms []string
	// Revision is the resource's revision after the change (0 after a
	// deletion).
	Revision int64
}

// Notifier receives every change the admin API makes, after it is stored
// and before the response is sent, so a client that got its answer can
// count on the gateway having seen the change. Notify is called on the
// request's goroutine: it must be quick and must not block (hand slow work
// to a goroutine); it cannot fail the request. ctx carries the request's
// Caller (CallerFrom).
type Notifier interface {
	Notify(ctx context.Context, c Change)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, c Change)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, c Change) { f(ctx, c) }

// Notifiers calls each notifier in turn.
type Notifiers []Notifier

// Notify calls every notifier.
func (ns Notifiers) Notify(ctx context.Context, c Change) {
	for _, n := range ns {
		if n != nil {
			n.Notify(ctx, c)
		}
	}
}
