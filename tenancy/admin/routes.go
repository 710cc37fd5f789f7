package admin

import (
	"net/http"
	"strings"

	"github.com/voicegw/voicegw/rbac"
)

// Route is one operation of the API: its method, its path template
// (BasePath included, parameters in braces as in the OpenAPI document), and
// the privilege it needs on its target (seed 002's entity × action; Action
// 0 for routes open to every authenticated caller). Public routes need no
// API key.
type Route struct {
	Method  string
	Path    string
	Summary string
	Entity  rbac.Entity
	Action  rbac.Action
	Public  bool
}

type route struct {
	Route
	segs  []string
	serve func(*reqCtx)
}

func (rt *route) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	var params map[string]string
	for i, s := range rt.segs {
		if strings.HasPrefix(s, "{") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.Trim(s, "{}")] = segs[i]
			continue
		}
		if s != segs[i] {
			return nil, false
		}
	}
	return params, true
}

const (
	get, post, patch, put, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete
	org, subOrg, agent, phone  = rbac.EntityOrganization, rbac.EntitySubOrganization, rbac.EntityAgent, rbac.EntityPhone
	read, create, update, drop = rbac.ActionRead, rbac.ActionCreate, rbac.ActionUpdate, rbac.ActionDelete
)

// table is every route: the single list the router, Routes and the OpenAPI
// test read.
func table(h *Handler) []*route {
	r := func(method, path, summary string, e rbac.Entity, a rbac.Action, serve func(*reqCtx)) *route {
		return &route{Route: Route{Method: method, Path: BasePath + path, Summary: summary, Entity: e, Action: a},
			segs: strings.Split(strings.Trim(path, "/"), "/"), serve: serve}
	}
	pub := func(method, path, summary string, serve func(*reqCtx)) *route {
		rt := r(method, path, summary, 0, 0, serve)
		rt.Public = true
		return rt
	}
	return []*route{
		pub(get, "/openapi.json", "The OpenAPI 3.1 document of this API (JSON).", h.openAPIJSON),
		pub(get, "/openapi.yaml", "The OpenAPI 3.1 document of this API (YAML).", h.openAPIYAML),
		r(get, "/me", "Who the caller is: scope, tenant, privileges.", 0, 0, h.me),
		r(get, "/api-key-service-types", "The service types an API key may have and the privileges each grants.", 0, 0, h.serviceTypes),

		r(get, "/service-providers", "List service providers.", org, read, h.listProviders),
		r(post, "/service-providers", "Create a service provider (Admin).", org, create, h.createProvider),
		r(get, "/service-providers/{id}", "Read a service provider.", org, read, h.getProvider),
		r(patch, "/service-providers/{id}", "Update a service provider (merge patch).", org, update, h.patchProvider),
		r(del, "/service-providers/{id}", "Delete a service provider without accounts.", org, drop, h.deleteProvider),

		r(get, "/accounts", "List accounts.", subOrg, read, h.listAccounts),
		r(post, "/accounts", "Create an account.", subOrg, create, h.createAccount),
		r(get, "/accounts/{sid}", "Read an account (every setting of seed 000).", org, read, h.getAccount),
		r(patch, "/accounts/{sid}", "Update an account's settings (merge patch).", org, update, h.patchAccount),
		r(del, "/accounts/{sid}", "Delete an account, its applications, API keys, members and roles.", subOrg, drop, h.deleteAccount),
		r(post, "/accounts/{sid}/webhook-secret/rotate", "Rotate the account's webhook secret.", org, update, h.rotateWebhookSecret),

		r(get, "/accounts/{sid}/recording", "Read the call recording configuration.", org, read, h.getRecording),
		r(patch, "/accounts/{sid}/recording", "Update the call recording configuration (merge patch).", org, update, h.patchRecording),
		r(post, "/accounts/{sid}/recording/test", "Test the recording bucket: write, read back and delete a probe object.", org, update, h.testRecording),

		r(get, "/accounts/{sid}/sip", "Read the SIP users and IP allowlist.", phone, read, h.getSIP),
		r(patch, "/accounts/{sid}/sip", "Update the SIP users, IP allowlist and TLS/SRTP requirements (merge patch).", phone, update, h.patchSIP),
		r(post, "/accounts/{sid}/sip/users", "Add a SIP user.", phone, create, h.addSIPUser),
		r(put, "/accounts/{sid}/sip/users/{username}", "Set a SIP user's password.", phone, update, h.setSIPUser),
		r(del, "/accounts/{sid}/sip/users/{username}", "Remove a SIP user.", phone, drop, h.deleteSIPUser),

		r(get, "/accounts/{sid}/call-attached-data", "Read the call attached data fields.", org, read, h.getCAD),
		r(put, "/accounts/{sid}/call-attached-data", "Replace the call attached data fields.", org, update, h.putCAD),

		r(get, "/accounts/{sid}/applications", "List the account's applications.", agent, read, h.listApps),
		r(post, "/accounts/{sid}/applications", "Create an application.", agent, create, h.createApp),
		r(get, "/accounts/{sid}/applications/{app}", "Read an application.", agent, read, h.getApp),
		r(patch, "/accounts/{sid}/applications/{app}", "Update an application (merge patch).", agent, update, h.patchApp),
		r(del, "/accounts/{sid}/applications/{app}", "Delete an application.", agent, drop, h.deleteApp),

		r(get, "/api-keys", "List API keys of an owner (masked).", org, read, h.listKeys),
		r(post, "/api-keys", "Create an API key; its secret is returned this once.", org, create, h.createKey),
		r(get, "/api-keys/{id}", "Read an API key (masked).", org, read, h.getKey),
		r(del, "/api-keys/{id}", "Delete an API key: requests with it fail at once.", org, drop, h.deleteKey),
		r(post, "/api-keys/{id}/revoke", "Revoke an API key: requests with it fail at once; it stays listed.", org, drop, h.revokeKey),

		r(get, "/roles", "List roles (an account's and the platform's).", org, read, h.listRoles),
		r(post, "/roles", "Create a role.", org, create, h.createRole),
		r(get, "/roles/{id}", "Read a role.", org, read, h.getRole),
		r(patch, "/roles/{id}", "Update a role (merge patch).", org, update, h.patchRole),
		r(del, "/roles/{id}", "Delete a role no member holds.", org, drop, h.deleteRole),

		r(get, "/members", "List members of a tenant.", org, read, h.listMembers),
		r(post, "/members", "Create a member.", org, create, h.createMember),
		r(get, "/members/{id}", "Read a member.", org, read, h.getMember),
		r(patch, "/members/{id}", "Update a member (merge patch).", org, update, h.patchMember),
		r(del, "/members/{id}", "Delete a member.", org, drop, h.deleteMember),
		r(put, "/members/{id}/password", "Set the password a member signs in with (stored as an Argon2id hash).", org, update, h.setMemberPassword),

		r(get, "/smtp", "Read the platform's SMTP settings (password masked).", org, read, h.getSMTP),
		r(put, "/smtp", "Replace the platform's SMTP settings.", org, update, h.putSMTP),
		r(post, "/smtp/test", "Test SMTP settings: connection, TLS, credentials, delivery.", org, update, h.testSMTP),

		r(get, "/audit", "List audit records (newest first).", org, read, h.listAudit),
	}
}

// Routes returns every route the Handler serves, in the order of the
// OpenAPI document.
func Routes() []Route {
	var out []Route
	for _, rt := range table(&Handler{}) {
		out = append(out, rt.Route)
	}
	return out
}
