package tenancy_test

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/tenancy"
)

// sameSIPAccess compares two configurations, passwords and digests
// included.
func sameSIPAccess(a, b *tenancy.SIPAccess) bool {
	if !slices.Equal(a.Allowlist, b.Allowlist) || len(a.Users) != len(b.Users) {
		return false
	}
	for i := range a.Users {
		x, y := &a.Users[i], &b.Users[i]
		if x.Username != y.Username || x.Password.Reveal() != y.Password.Reveal() || !x.HA1.Equal(y.HA1) {
			return false
		}
	}
	return true
}

// FuzzSIPAccessUnmarshalStored checks that whatever UnmarshalStored accepts
// (its clear passwords of the first format hashed, as a store migrating it
// does) survives MarshalStored and UnmarshalStored unchanged, that the
// stored form of a parsed value is a fixed point, and that it never holds a
// password.
func FuzzSIPAccessUnmarshalStored(f *testing.F) {
	for _, s := range []tenancy.SIPAccess{
		{},
		{Users: []tenancy.SIPUser{{Username: "alice", Password: "alice-secret-password"}}, Allowlist: []string{"203.0.113.0/24", "2001:db8::1"}},
		{Users: []tenancy.SIPUser{{Username: "pbx-1", Password: "p\u00e4ss w\u00f6rd \"q\""}, {Username: "pbx-2", Password: "second-password"}}},
		{Allowlist: []string{"203.0.113.*", "203.0.113.10-203.0.113.20"}},
	} {
		s.HashPasswords("sip.example.com")
		b, err := s.MarshalStored()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"users":[{"username":"alice","password":"aliXXXX"}]}`)) // show-back form
	f.Add([]byte(`{"stored_format":7}`))
	f.Add([]byte(`{"stored_format":1,"users":[{"username":" bob ","password":"\ud800x"}],"allowlist":[" 10.0.0.1 "]}`))
	f.Add([]byte(`{"stored_format":1,"users":[],"allowlist":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a tenancy.SIPAccess
		if err := a.UnmarshalStored(data); err != nil {
			return
		}
		a.HashPasswords("sip.example.com")
		b, err := a.MarshalStored()
		if err != nil {
			t.Fatalf("MarshalStored of what %q parsed to: %v", data, err)
		}
		if bytes.Contains(b, []byte(`"password"`)) {
			t.Fatalf("stored form %q holds a password", b)
		}
		var a2 tenancy.SIPAccess
		if err := a2.UnmarshalStored(b); err != nil {
			t.Fatalf("stored form %q of %q does not parse: %v", b, data, err)
		}
		if !sameSIPAccess(&a, &a2) {
			t.Fatalf("round trip of %q changed it: %+v vs %+v", data, a, a2)
		}
		b2, err := a2.MarshalStored()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("stored form not stable: %q vs %q (%v)", b, b2, err)
		}
	})
}

// FuzzSIPAccessMarshalStored checks the other direction: a configuration
// that validates, its passwords hashed, comes back from its stored form
// exactly, digests included, and the digests are those of the password.
func FuzzSIPAccessMarshalStored(f *testing.F) {
	f.Add("alice", "alice-secret-password", "203.0.113.0/24")
	f.Add("pbx_1;x=y", "p\u00e4ss w\u00f6rd \"q\" \\ <&>", "2001:db8::1")
	f.Add("bob", "\u2028\u2029 line separators", "203.0.113.10-203.0.113.20")
	if err := (&tenancy.Account{Name: "Acme", SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "alice", Password: "alice-secret-password"}}}}).Validate(); err != nil {
		f.Fatalf("the seed configuration does not validate, so the target checks nothing: %v", err)
	}
	f.Fuzz(func(t *testing.T, user, password, allow string) {
		in := tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: user, Password: secret.String(password)}}, Allowlist: []string{allow}}
		if err := (&tenancy.Account{Name: "Acme", SIP: in}).Validate(); err != nil {
			return
		}
		in.HashPasswords("acme.example.com")
		if want := tenancy.NewDigestHA1(user, "acme.example.com", secret.String(password)); !in.Users[0].HA1.Equal(want) || in.Users[0].Password != "" {
			t.Fatalf("HashPasswords left %+v", in.Users[0])
		}
		b, err := in.MarshalStored()
		if err != nil {
			t.Fatal(err)
		}
		var out tenancy.SIPAccess
		if err := out.UnmarshalStored(b); err != nil {
			t.Fatalf("stored form %q does not parse: %v", b, err)
		}
		if !sameSIPAccess(&in, &out) {
			t.Fatalf("round trip changed a valid configuration: %q → %+v", b, out)
		}
	})
}

// FuzzParseSID checks that what ParseSID accepts is canonical (its String
// parses to itself) and equal, ignoring case, to the input; and that an
// error names the input.
func FuzzParseSID(f *testing.F) {
	f.Add(string(tenancy.NewSID()))
	f.Add("F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6") // RFC 9562 §4 example
	f.Add("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	f.Add("f81d4fae7dec11d0a76500a0c91e6bf6")
	f.Add("{f81d4fae-7dec-11d0-a765-00a0c91e6bf6}")
	f.Add("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		sid, err := tenancy.ParseSID(s)
		if err != nil {
			if !errors.Is(err, tenancy.ErrInvalid) || !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParseSID(%q) error %v does not wrap ErrInvalid and name the input", s, err)
			}
			return
		}
		if !strings.EqualFold(sid.String(), s) || sid.String() != strings.ToLower(sid.String()) {
			t.Fatalf("ParseSID(%q) = %q, not its lowercase form", s, sid)
		}
		again, err := tenancy.ParseSID(sid.String())
		if err != nil || again != sid {
			t.Fatalf("ParseSID(%q.String()) = %q, %v; want %q", sid, again, err, sid)
		}
	})
}
