package admin

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
)

var appReadOnly = []string{"sid", "account_sid", "revision", "created_at", "updated_at"}

func (h *Handler) listApps(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return
	}
	apps, err := h.cfg.Tenants.Applications(rc.ctx, a.SID)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	if list, ok := page(rc, apps, func(x *tenancy.Application) string { return x.Name + "\x00" + string(x.SID) }); ok {
		rc.respond(http.StatusOK, 0, list)
	}
}

func (h *Handler) createApp(rc *reqCtx) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return
	}
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var app tenancy.Application
	if !rc.decodeStrict(body, &app) {
		return
	}
	app.SID, app.Account, app.Revision, app.CreatedAt, app.UpdatedAt = "", a.SID, 0, time.Time{}, time.Time{}
	created, err := h.cfg.Tenants.CreateApplication(rc.ctx, &app)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceApplication, Op: OpCreate, ID: string(created.SID), Account: string(a.SID), ServiceProvider: a.ServiceProvider, Revision: created.Revision},
		"application.create", nil, created)
	rc.w.Header().Set("Location", BasePath+"/accounts/"+string(a.SID)+"/applications/"+string(created.SID))
	rc.respond(http.StatusCreated, created.Revision, created)
}

// loadApp reads the account and the application of the path, and authorizes
// the route on the account; 404 for an application of another account.
func (rc *reqCtx) loadApp() (*tenancy.Account, *tenancy.Application, bool) {
	a, ok := rc.loadAccount()
	if !ok || !rc.authorize(acctTarget(a), acctTarget(a), "account") {
		return nil, nil, false
	}
	sid, err := tenancy.ParseSID(rc.params["app"])
	if err != nil {
		rc.notFound("application")
		return nil, nil, false
	}
	app, err := rc.h.cfg.Tenants.Application(rc.ctx, sid)
	switch {
	case errors.Is(err, tenancy.ErrNotFound) || (err == nil && app.Account != a.SID):
		rc.notFound("application")
		return nil, nil, false
	case err != nil:
		rc.fromError(err, nil)
		return nil, nil, false
	}
	return a, app, true
}

func (h *Handler) getApp(rc *reqCtx) {
	if _, app, ok := rc.loadApp(); ok {
		rc.respond(http.StatusOK, app.Revision, app)
	}
}

func (h *Handler) patchApp(rc *reqCtx) {
	a, cur, ok := rc.loadApp()
	if !ok {
		return
	}
	sent, ok := rc.precondition(cur.Revision)
	if !ok {
		return
	}
	var next tenancy.Application
	if !rc.patchInto(cur, &next, appReadOnly...) {
		return
	}
	next.SID, next.Account, next.Revision = cur.SID, cur.Account, cur.Revision
	var fields []string
	if strings.TrimSpace(next.Name) != cur.Name {
		fields = append(fields, "name")
	}
	if next.RecordAllCalls != cur.RecordAllCalls {
		fields = append(fields, "record_all_calls")
	}
	if len(fields) == 0 {
		rc.respond(http.StatusOK, cur.Revision, cur)
		return
	}
	updated, err := h.cfg.Tenants.UpdateApplication(rc.ctx, &next)
	if errors.Is(err, tenancy.ErrConflict) {
		rc.conflict(sent, err)
		return
	}
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceApplication, Op: OpUpdate, ID: string(updated.SID), Account: string(a.SID), ServiceProvider: a.ServiceProvider,
		Fields: fields, Revision: updated.Revision}, "application.update", cur, updated)
	rc.respond(http.StatusOK, updated.Revision, updated)
}

func (h *Handler) deleteApp(rc *reqCtx) {
	a, cur, ok := rc.loadApp()
	if !ok {
		return
	}
	if _, ok := rc.precondition(cur.Revision); !ok {
		return
	}
	if err := h.cfg.Tenants.DeleteApplication(rc.ctx, cur.SID); err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceApplication, Op: OpDelete, ID: string(cur.SID), Account: string(a.SID), ServiceProvider: a.ServiceProvider},
		"application.delete", cur, nil)
	rc.noContent()
}

// Service providers.

var providerReadOnly = []string{"id", "revision", "created_at", "updated_at"}

func providerTarget(id string) rbac.Target { return rbac.Target{ServiceProvider: id} }

func (h *Handler) listProviders(rc *reqCtx) {
	all, err := h.cfg.Store.Providers(rc.ctx)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	var visible []*ServiceProvider
	for _, p := range all {
		if rc.allowed(rc.rt.Entity, rc.rt.Action, providerTarget(p.ID)) {
			visible = append(visible, p)
		}
	}
	if len(visible) == 0 && rc.p.Scope != rbac.ScopeAccount {
		// Say why an empty list is empty: no privilege at all is a 403.
		own := providerTarget(rc.p.ServiceProvider)
		if !rc.authorize(own, own, "service provider") {
			return
		}
	}
	if list, ok := page(rc, visible, func(p *ServiceProvider) string { return p.Name + "\x00" + p.ID }); ok {
		rc.respond(http.StatusOK, 0, list)
	}
}

func (h *Handler) createProvider(rc *reqCtx) {
	if !rc.authorize(rbac.Target{}, rbac.Target{}, "service provider") {
		return
	}
	body, ok := rc.readBody(false)
	if !ok {
		return
	}
	var p ServiceProvider
	if !rc.decodeStrict(body, &p) {
		return
	}
	created, err := h.cfg.Store.CreateProvider(rc.ctx, &p)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceServiceProvider, Op: OpCreate, ID: created.ID, ServiceProvider: created.ID, Revision: created.Revision},
		"service_provider.create", nil, created)
	rc.w.Header().Set("Location", BasePath+"/service-providers/"+created.ID)
	rc.respond(http.StatusCreated, created.Revision, created)
}

func (rc *reqCtx) loadProvider() (*ServiceProvider, bool) {
	id := rc.params["id"]
	t := providerTarget(id)
	if !rbac.Reaches(rc.p, t) {
		rc.notFound("service provider")
		return nil, false
	}
	p, err := rc.h.cfg.Store.Provider(rc.ctx, id)
	if errors.Is(err, ErrNotFound) {
		rc.notFound("service provider")
		return nil, false
	}
	if err != nil {
		rc.fromError(err, nil)
		return nil, false
	}
	return p, rc.authorize(t, t, "service provider")
}

func (h *Handler) getProvider(rc *reqCtx) {
	if p, ok := rc.loadProvider(); ok {
		rc.respond(http.StatusOK, p.Revision, p)
	}
}

func (h *Handler) patchProvider(rc *reqCtx) {
	cur, ok := rc.loadProvider()
	if !ok {
		return
	}
	sent, ok := rc.precondition(cur.Revision)
	if !ok {
		return
	}
	var next ServiceProvider
	if !rc.patchInto(cur, &next, providerReadOnly...) {
		return
	}
	next.ID, next.Revision = cur.ID, cur.Revision
	var fields []string
	if strings.TrimSpace(next.Name) != cur.Name {
		fields = append(fields, "name")
	}
	if strings.TrimSpace(next.Description) != cur.Description {
		fields = append(fields, "description")
	}
	if len(fields) == 0 {
		rc.respond(http.StatusOK, cur.Revision, cur)
		return
	}
	updated, err := h.cfg.Store.UpdateProvider(rc.ctx, &next)
	if errors.Is(err, ErrConflict) {
		rc.conflict(sent, err)
		return
	}
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceServiceProvider, Op: OpUpdate, ID: updated.ID, ServiceProvider: updated.ID, Fields: fields, Revision: updated.Revision},
		"service_provider.update", cur, updated)
	rc.respond(http.StatusOK, updated.Revision, updated)
}

func (h *Handler) deleteProvider(rc *reqCtx) {
	cur, ok := rc.loadProvider()
	if !ok {
		return
	}
	if _, ok := rc.precondition(cur.Revision); !ok {
		return
	}
	accts, err := h.cfg.Tenants.Accounts(rc.ctx, cur.ID)
	if err != nil {
		rc.fromError(err, nil)
		return
	}
	if len(accts) > 0 {
		rc.problem(newProblem(http.StatusConflict, CodeInUse, "the service provider still has accounts; delete them or move them to another service provider first"), nil)
		return
	}
	if err := h.cfg.Store.DeleteProvider(rc.ctx, cur.ID); err != nil {
		rc.fromError(err, nil)
		return
	}
	rc.record(Change{Resource: ResourceServiceProvider, Op: OpDelete, ID: cur.ID, ServiceProvider: cur.ID}, "service_provider.delete", cur, nil)
	rc.noContent()
}
