package sip

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Seeds: the examples of RFC 3261 §22.4/§25, RFC 2617 §3.5, RFC 7616 §3.9
// and what sipp and sipgo send.
var authorizationSeeds = []string{
	`Digest username="Alice", realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e", uri="sip:alice@atlanta.com", response="7587245234b3434cc3412213e5f113a5432"`,
	`Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
	`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
	`Digest username="488b2aa3c6cdda1f5fdcb7d07d83d6b9a8a78e7e0f1ca4ba6a2a2ad6e6e1a0d5", realm="api@example.org", uri="/doe.json", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", nc=00000001, cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", qop=auth, response="ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", userhash=true`,
	`Digest username="alice",realm="example.test",uri="sip:127.0.0.1:5060",nonce="abc",response="0123456789abcdef0123456789abcdef",algorithm=MD5,cnonce="6b8b4567",qop=auth,nc=00000001`,
	`digest USERNAME="a\"b\\c", Realm=r, NONCE="", uri=sip:a@b;transport=tcp, response="x", x-extension="y z", other=token`,
	`Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`,
	`Digest`,
	`Digest username="a", username="b"`,
	`Digest nc=0000001`,
	`Digest uri="sip:a` + "\x01" + `"`,
}

func TestParseAuthorization(t *testing.T) {
	a, err := ParseAuthorization(authorizationSeeds[1])
	if err != nil {
		t.Fatal(err)
	}
	want := Authorization{
		Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		URI: "/dir/index.html", QOP: "auth", NC: 1, CNonce: "0a4f113b",
		Response: "6629fae49393a05397450978507c4ef1", Opaque: "5ccc069c403ebaf9f0171e9517f40e41",
	}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("got %+v\nwant %+v", a, want)
	}

	a, err = ParseAuthorization(authorizationSeeds[5])
	if err != nil {
		t.Fatal(err)
	}
	if a.Username != `a"b\c` || a.Realm != "r" || a.Nonce != "" || a.URI != "sip:a@b;transport=tcp" {
		t.Fatalf("escapes and tokens: %+v", a)
	}
	if len(a.Params) != 2 || a.Params[0] != (Param{"x-extension", "y z", true}) || a.Params[1] != (Param{"other", "token", false}) {
		t.Fatalf("params: %+v", a.Params)
	}
}

func TestParseAuthorizationErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
		msg  string
	}{
		{`Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`, ErrNotDigest, `"Basic"`},
		{``, ErrNotDigest, "no scheme"},
		{`Digest`, ErrMalformedHeader, "no parameters"},
		{`Digestusername="a"`, ErrNotDigest, `"Digestusername"`},
		{`Digest username`, ErrMalformedHeader, "expected '='"},
		{`Digest username=`, ErrMalformedHeader, "expected a value"},
		{`Digest username="a" realm="b"`, ErrMalformedHeader, "expected ','"},
		{`Digest username="a",`, ErrMalformedHeader, "expected a parameter name"},
		{`Digest username="a", username="b"`, ErrMalformedHeader, `"username" appears twice`},
		{`Digest username="a", USERNAME="b"`, ErrMalformedHeader, "appears twice"},
		{`Digest username="abc`, ErrMalformedHeader, "unterminated"},
		{`Digest username="abc\`, ErrMalformedHeader, "backslash"},
		{"Digest username=\"a\x00b\"", ErrMalformedHeader, "control character"},
		{"Digest " + manyParams(33), ErrMalformedHeader, "more than 32 parameters"},
		{"Digest username=\"a\\\rb\"", ErrMalformedHeader, "control character"},
		{`Digest nc=1`, ErrMalformedHeader, `nc "1"`},
		{`Digest nc=00000000`, ErrMalformedHeader, `nc "00000000"`},
		{`Digest nc=0000000g`, ErrMalformedHeader, `nc "0000000g"`},
		{`Digest =x`, ErrMalformedHeader, "at byte 7"},
		{"Digest " + strings.Repeat("a", maxAuthHeaderLen), ErrMalformedHeader, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			_, err := ParseAuthorization(tt.in)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestAuthorizationString(t *testing.T) {
	a := Authorization{Username: `al"ice`, Realm: "example.test", Nonce: "n", URI: "sip:example.test", Response: "r", Algorithm: "SHA-256", CNonce: "c", QOP: "auth", NC: 0x1f,
		Params: []Param{{"x", "", true}, {"y", "tok", false}}}
	want := `Digest username="al\"ice", realm="example.test", nonce="n", uri="sip:example.test", response="r", algorithm=SHA-256, cnonce="c", qop=auth, nc=0000001f, x="", y=tok`
	if got := a.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestChallenge(t *testing.T) {
	c := Challenge{Realm: "example.test", Nonce: "abc", Stale: true, Algorithm: "SHA-256", QOP: []string{"auth"}}
	s := c.String()
	if s != `Digest realm="example.test", nonce="abc", stale=true, algorithm=SHA-256, qop="auth"` {
		t.Fatalf("String() = %s", s)
	}
	back, err := ParseChallenge(s)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for _, bad := range []string{`Digest stale=maybe`, `Digest qop="auth,,x"`, `Digest qop="a b"`} {
		if _, err := ParseChallenge(bad); !errors.Is(err, ErrMalformedHeader) {
			t.Errorf("ParseChallenge(%q) err = %v", bad, err)
		}
	}
}

// FuzzParseAuthorization: whatever parses prints to a header that parses
// to the same value, and printing is stable.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range authorizationSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthorization(s)
		if err != nil {
			if !errors.Is(err, ErrNotDigest) && !errors.Is(err, ErrMalformedHeader) {
				t.Fatalf("ParseAuthorization(%q): unexpected error %v", s, err)
			}
			return
		}
		out := a.String()
		b, err := ParseAuthorization(out)
		if err != nil {
			t.Fatalf("reparse of %q (from %q): %v", out, s, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip of %q:\n%#v\n%#v", s, a, b)
		}
		if b.String() != out {
			t.Fatalf("String not stable: %q then %q", out, b.String())
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5`,
		`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		`Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChallenge(s)
		if err != nil {
			return
		}
		out := c.String()
		d, err := ParseChallenge(out)
		if err != nil {
			t.Fatalf("reparse of %q (from %q): %v", out, s, err)
		}
		if !reflect.DeepEqual(c, d) {
			t.Fatalf("round trip of %q:\n%#v\n%#v", s, c, d)
		}
	})
}

// manyParams is n distinct parameters p0=1, p1=1…
func manyParams(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("p%d=1", i)
	}
	return strings.Join(ps, ", ")
}
