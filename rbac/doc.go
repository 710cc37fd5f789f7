// Package rbac answers who may do what: scopes (Admin, Service Provider,
// Account) with containment, roles with Read/Update/Delete/Create privileges
// per entity and advanced privileges, members, API keys (shown once, stored
// hashed, expiring and revocable) and an allocation-free authorizer.
package rbac
