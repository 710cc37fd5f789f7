// Package tenancy models the tenants of a voice gateway: accounts,
// applications, limits (licensed sessions, minutes), call recording
// configuration, signed webhooks, SMTP settings and call attached data, with
// stores over a driver interface (in memory, or SQLite as the durable default).
package tenancy
