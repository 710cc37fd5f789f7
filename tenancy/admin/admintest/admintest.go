// Package admintest holds the rows of the admin API's authorization tests as
// data, so that the same rows run against the handler in process (package
// admin's tests) and against a gateway over real HTTP (examples/gateway's
// tests of its binary): seed 000's table of settings and the scopes that may
// set each.
package admintest

import (
	"net/http"
	"slices"
	"strings"
)

// Scopes as the rows name them, in the order the rows are meant to run
// (Admin first: a row's request for one scope may count on the value an
// earlier scope set).
const (
	Admin           = "admin"
	ServiceProvider = "service_provider"
	Account         = "account"
)

// Scopes returns the three scopes in order.
func Scopes() []string { return []string{Admin, ServiceProvider, Account} }

// Target names what the rows act on: an account of a service provider,
// and an application of that account.
type Target struct {
	// Account is the account's SID.
	Account string
	// Application is the SID of one of its applications.
	Application string
}

// Request is one request of a row: a method, a path below admin.BasePath
// ("/accounts/SID") and a JSON body (nil for none).
type Request struct {
	Method string
	Path   string
	Body   any
}

// Setting is one row of seed 000's settings table.
type Setting struct {
	// Name is the setting as seed 000 names it.
	Name string
	// Allowed are the scopes the table's Scope column allows.
	Allowed []string
	// Field is the field a refusal names (403, code forbidden_field); ""
	// when a refusal names none.
	Field string
	// Request returns the request that sets the setting as a caller of
	// scope (with every privilege) would. Each scope's request changes the
	// setting, so an allowed one is a change and a refused one would be.
	Request func(scope string, t Target) Request
}

// AllowedFor reports whether the table allows scope.
func (s Setting) AllowedFor(scope string) bool { return slices.Contains(s.Allowed, scope) }

// Seed000Settings returns seed 000's settings (TTS prompt caching has no
// counterpart in voicegw, which has no TTS): the account settings by
// PATCH /accounts/{sid} (and its sub-resources), the webhook secret's
// rotation and the account's API keys. Unit, maximum units and licensed
// sessions are the Admin's alone; everything else every scope may set.
// A caller runs every scope of a row in the order of Scopes, row after row.
func Seed000Settings() []Setting {
	all := Scopes()
	adminOnly := []string{Admin}
	acct := func(t Target) string { return "/accounts/" + t.Account }
	set := func(field string, value func(scope string, t Target) any) func(string, Target) Request {
		return func(scope string, t Target) Request {
			return Request{http.MethodPatch, acct(t), map[string]any{field: value(scope, t)}}
		}
	}
	app := func(scope string, t Target) any {
		if scope == ServiceProvider { // a change from the Admin's choice
			return nil
		}
		return t.Application
	}
	return []Setting{
		{"Account name", all, "name", set("name", func(s string, _ Target) any { return "Name by " + s })},
		{"Unit", adminOnly, "unit", set("unit", func(s string, _ Target) any {
			if s == Admin { // the Admin sets minutes: the others' sessions is a change
				return "minutes"
			}
			return "sessions"
		})},
		{"Unit (maximum)", adminOnly, "max_units", set("max_units", func(s string, _ Target) any { return 100 + len(s) })},
		{"Licensed sessions", adminOnly, "licensed_sessions", set("licensed_sessions", func(s string, _ Target) any { return 10 + len(s) })},
		{"SIP Realm", all, "sip_realm", set("sip_realm", func(s string, _ Target) any {
			return strings.ReplaceAll(s, "_", "-") + ".a1.example.com"
		})},
		{"Webhook Secret (set)", all, "webhook_secret", set("webhook_secret", func(s string, _ Target) any { return "whsec_set_by_" + s + "_0123456789" })},
		{"Webhook Secret (rotate)", all, "webhook_secret", func(_ string, t Target) Request {
			return Request{http.MethodPost, acct(t) + "/webhook-secret/rotate", nil}
		}},
		{"Application for SIP device calls", all, "device_calls_application", set("device_calls_application", app)},
		{"Application for SIPREC calls", all, "siprec_application", set("siprec_application", app)},
		{"Registration Webhook", all, "registration_webhook", set("registration_webhook", func(s string, _ Target) any { return "https://hooks.example.com/reg/" + s })},
		{"Queue Event Webhook", all, "queue_event_webhook", set("queue_event_webhook", func(s string, _ Target) any { return "https://hooks.example.com/queue/" + s })},
		{"Call recording configuration", all, "recording", func(s string, t Target) Request {
			return Request{http.MethodPatch, acct(t) + "/recording", map[string]any{
				"enabled": true, "format": "mp3", "record_all_calls": s != Account,
				"bucket": map[string]any{"vendor": "memory", "memory": map[string]any{"tags": []any{map[string]any{"name": "by", "value": s}}}}}}
		}},
		{"Account API keys", all, "", func(s string, t Target) Request {
			return Request{http.MethodPost, "/api-keys", map[string]any{"name": "key by " + s, "service_type": "insights", "account_sid": t.Account}}
		}},
	}
}
