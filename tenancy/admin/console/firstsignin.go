package console

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// FirstMember describes the member FirstSignIn makes sure of.
type FirstMember struct {
	// Email is the member's sign-in email. Required.
	Email string
	// Scope, ServiceProvider and Account place the member as rbac.Member
	// does. Default scope: Account when Account is set, else Admin.
	Scope           rbac.Scope
	ServiceProvider string
	Account         string
	// RoleName names the role FirstSignIn gives the member (made in the
	// member's account, or as a platform role, when missing) with every
	// privilege. Default: "Account admin" for an account member,
	// "Platform admin" otherwise.
	RoleName string
}

// ErrFirstMember is returned by FirstSignIn for a FirstMember it cannot
// make; the message names the field.
var ErrFirstMember = errors.New("console: invalid first member")

// FirstSignIn makes sure a gateway's console can be signed in to on its
// first start: when no member has m.Email, it creates the member with a
// role holding every privilege and a generated password (20 characters,
// about 100 bits), which it returns this once with created true. When the
// member exists it changes nothing and returns created false (its password
// is never shown again). Like rbac.KeyStore.Bootstrap it is for trusted
// configuration code, not for requests.
func FirstSignIn(ctx context.Context, members *rbac.MemberStore, m FirstMember) (password secret.String, created bool, err error) {
	if members == nil || strings.TrimSpace(m.Email) == "" {
		return "", false, fmt.Errorf("%w: Email and a member store are required", ErrFirstMember)
	}
	if _, err := members.MemberByEmail(ctx, m.Email); err == nil {
		return "", false, nil
	} else if !errors.Is(err, rbac.ErrNotFound) {
		return "", false, err
	}
	if m.Scope == 0 {
		m.Scope = rbac.ScopeAdmin
		if m.Account != "" {
			m.Scope = rbac.ScopeAccount
		}
	}
	roleAccount := ""
	if m.Scope == rbac.ScopeAccount {
		roleAccount = m.Account
	}
	if m.RoleName == "" {
		m.RoleName = "Platform admin"
		if roleAccount != "" {
			m.RoleName = "Account admin"
		}
	}
	roles, err := members.Roles(ctx, roleAccount)
	if err != nil {
		return "", false, err
	}
	var role *rbac.Role
	for _, r := range roles {
		if r.Name == m.RoleName && r.Account == roleAccount {
			role = r
		}
	}
	if role == nil {
		if role, err = members.CreateRole(ctx, &rbac.Role{Account: roleAccount, Name: m.RoleName, Privileges: rbac.AllPrivileges()}); err != nil {
			return "", false, err
		}
	}
	mem, err := members.CreateMember(ctx, &rbac.Member{Email: m.Email, Scope: m.Scope, ServiceProvider: m.ServiceProvider, Account: m.Account, RoleID: role.ID})
	if err != nil {
		return "", false, err
	}
	pw := generatePassword()
	if err := members.SetPassword(ctx, mem.ID, pw); err != nil {
		_ = members.DeleteMember(ctx, mem.ID)
		return "", false, err
	}
	return pw, true, nil
}

// generatePassword returns 20 random characters of an alphabet without
// look-alikes, in groups of five: "xk7Pq-…".
func generatePassword() secret.String {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789" // 57 symbols, 5.8 bits each
	var b strings.Builder
	buf := make([]byte, 1)
	for n := 0; n < 20; {
		_, _ = rand.Read(buf)
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue // no modulo bias
		}
		if n > 0 && n%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[int(buf[0])%len(alphabet)])
		n++
	}
	return secret.String(b.String())
}
