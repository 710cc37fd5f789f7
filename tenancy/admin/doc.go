// Package admin is the management API of a voicegw gateway (seeds 000–002):
// service providers, accounts and every setting of seed 000, applications,
// SIP users and the IP allowlist, call attached data, the recording bucket
// with its Test, API keys, members and roles, SMTP settings with their Test,
// and an audit log of every change. It is an http.Handler any Go program
// mounts, a typed Client, and an OpenAPI 3.1 document (openapi.yaml, served
// at /admin/v1/openapi.json and /admin/v1/openapi.yaml).
//
//	h, err := admin.NewHandler(admin.Config{Tenants: tenants, Keys: keys, Members: members, Store: store, Notifier: gw})
//	mux.Handle("/admin/", h)
//
// # Routes
//
// Every path starts with BasePath (/admin/v1); Routes lists them with the
// privilege each needs, and the OpenAPI document describes them (a test keeps
// the two equal both ways):
//
//	GET    /me, /api-key-service-types                      any authenticated caller
//	GET    /service-providers, POST (Admin)                  organization
//	GET    PATCH DELETE /service-providers/{id}              organization
//	GET    /accounts, POST /accounts                         sub_organization read, create
//	GET    PATCH /accounts/{sid}                             organization read, update
//	DELETE /accounts/{sid}                                   sub_organization delete
//	POST   /accounts/{sid}/webhook-secret/rotate             organization update
//	GET    PATCH /accounts/{sid}/recording, POST .../test    organization read, update, update
//	GET    PATCH /accounts/{sid}/sip                         phone read, update
//	POST   /accounts/{sid}/sip/users; PUT DELETE .../{username}  phone create, update, delete
//	GET    PUT /accounts/{sid}/call-attached-data            organization read, update
//	GET    POST /accounts/{sid}/applications; GET PATCH DELETE .../{app}  agent
//	GET    POST /api-keys; GET DELETE /api-keys/{id}; POST .../revoke (delete)  organization
//	GET    POST /roles; GET PATCH DELETE /roles/{id}         organization
//	GET    POST /members; GET PATCH DELETE /members/{id}     organization
//	PUT    /members/{id}/password                           organization update
//	GET    PUT /smtp, POST /smtp/test (platform: Admin)      organization read, update, update
//	GET    /audit                                            organization read
//
// # Authorization
//
// The caller is found by the Authenticator: by default the principal of its
// API key (rbac.KeyStore), sent as "Authorization: Bearer KEY" or "X-Vgai-Key:
// KEY", checked on every request so a deleted or revoked key fails on the next
// one. Every request is decided by the rbac.Authorizer for the resource's
// tenant (rbac.Target): the entity × action of its route. On top of that:
//
//   - Seed 000's per-field scopes decide each field of an account write
//     (tenancy.ChangedFields against rbac.AccountFieldRules, plus the
//     account's service provider, Admin-only too): an account-scope caller
//     setting licensed_sessions gets 403 with code forbidden_field naming
//     "licensed_sessions". Unchanged values sent back are no change.
//   - Changing an account's "sip" field also needs phone update: its SIP
//     users, its IP allowlist, and its require_tls and require_srtp
//     policy (SIPREC only over TLS, media only as SRTP).
//   - A bucket URL (credentials from the gateway's environment) and a local
//     directory bucket (the gateway's disk) are Admin-only.
//   - A caller never learns of a resource outside its reach: 404, exactly
//     as for one that does not exist. Within reach but not allowed: 403.
//   - Nobody grants more than they hold: an API key never exceeds its
//     creator (rbac.KeyStore.Create), a role's privileges and a member's role
//     must be within the caller's, a member is never broader than its
//     creator.
//
// # Errors and concurrency
//
// Errors are RFC 9457 problem documents (Problem, application/problem+json)
// whose "errors" member names each field at fault by its path in the request
// body: 400 malformed, 401, 403, 404, 405, 409 (exists, in_use, conflict),
// 412, 413, 415, 422 invalid values, 428, 429 (a source address that sent
// too many missing or invalid keys: Config.FailedKeys), 503. Resources carry a revision,
// answered as the ETag; updates and deletes honour If-Match (412 on a
// mismatch). If-Match is optional unless Config.RequireIfMatch (then 428
// without it): without it an update applies to the revision the handler
// reads, and a writer that changes the resource in between makes it 409,
// never a lost update. Updates are JSON merge patches (RFC 7396). Lists page
// with page_size and page_token.
//
// # Secrets
//
// Secrets are write-only: answers mask them, a masked value sent back keeps
// the stored secret (never toward another server: a bucket endpoint or SMTP
// host that changed needs the secret typed again), and no problem document,
// log line or audit record holds one. The plain secrets the API returns are
// each shown once: a created API key's, a created account's webhook secret,
// a rotated webhook secret.
//
// # Live changes
//
// Config.Notifier is told of every change (Change: resource, operation, ID,
// tenant, changed fields, SIP realms before and after) once it is stored and
// before the response is written, so a running gateway drops its caches at
// once: the Guard's tenant (allowlist, SIP users, realm), the bucket
// resolver, cached key checks. See Change for what each kind means.
//
// # Audit
//
// Every change is recorded in the Store (who: the caller's subject and
// email; what: action, resource, fields; when; the resource before and after
// as the API shows it, secrets masked) and listed by GET /audit to those
// with organization read: an Admin all records, a service provider its own
// and its accounts', an account its own. The Store (service providers, SMTP
// settings, audit) is a portable type over a Driver: tenancy/admin/memstore
// and tenancy/admin/sqlitestore pass tenancy/admin/storetest.
package admin
