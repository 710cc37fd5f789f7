package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// FuzzMergePatch: RFC 7396 merge patches are idempotent (applying a patch
// twice gives what applying it once gives), the empty patch is the identity,
// and a patch of a document onto anything gives that document when it has no
// null member (RFC 7396 appendix A examples are seeds).
func FuzzMergePatch(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a":"b"}`, `{"a":"c"}`}, {`{"a":"b"}`, `{"b":"c"}`}, {`{"a":"b"}`, `{"a":null}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`}, {`{"a":["b"]}`, `{"a":"c"}`}, {`{"a":"c"}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`}, {`{"a":[{"b":"c"}]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`}, {`{"a":"b"}`, `["c"]`}, {`{"e":null}`, `{"a":1}`}, {`[1,2]`, `{"a":"b","c":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, doc, patch string) {
		if !json.Valid([]byte(doc)) || !json.Valid([]byte(patch)) {
			return
		}
		once, err := mergePatch([]byte(doc), []byte(patch))
		if err != nil {
			t.Fatalf("mergePatch(%s, %s): %v", doc, patch, err)
		}
		twice, err := mergePatch(once, []byte(patch))
		if err != nil || !jsonEq(once, twice) {
			t.Fatalf("not idempotent: %s then %s", once, twice)
		}
		same, err := mergePatch([]byte(doc), []byte(`{}`))
		var d any
		_ = json.Unmarshal([]byte(doc), &d)
		if _, isObj := d.(map[string]any); isObj && (err != nil || !jsonEq(same, []byte(doc))) {
			t.Fatalf("empty patch changed %s into %s", doc, same)
		}
		if !bytes.Contains([]byte(patch), []byte("null")) {
			onto, err := mergePatch([]byte(`{}`), []byte(patch))
			if err != nil || !jsonEq(onto, []byte(patch)) {
				t.Fatalf("patch %s onto {} gave %s", patch, onto)
			}
		}
	})
}

func jsonEq(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// FuzzMarshalRevealed: what the client sends decodes, on the server, to the
// very value it marshalled, secrets in plain form included (json.Marshal
// would have masked them).
func FuzzMarshalRevealed(f *testing.F) {
	f.Add("Acme", "whsec_0123456789abcdef", "alice", "alice-Passw0rd", "wJalrXUtnFEMI/K7MDENG")
	f.Add("", "", "", "", "")
	f.Add("名前", "x\"y\\z", "u;?", "p\x00w", "\u2028")
	f.Fuzz(func(t *testing.T, name, webhook, user, pass, bucketSecret string) {
		a := tenancy.Account{
			Name: name, WebhookSecret: secret.String(webhook), LicensedSessions: len(name),
			SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: user, Password: secret.String(pass)}}, Allowlist: []string{name}},
			Recording: tenancy.RecordingConfig{Enabled: true, Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorS3,
				S3: &bucketconfig.S3{Bucket: "b", Region: "r", AccessKeyID: user, SecretAccessKey: secret.String(bucketSecret)}}},
		}
		b, err := marshalRevealed(a)
		if err != nil {
			t.Fatal(err)
		}
		var back tenancy.Account
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want := a
		// encoding/json replaces invalid UTF-8; compare what it would keep.
		plain, _ := json.Marshal(struct {
			N, W, U, P, S string
		}{name, webhook, user, pass, bucketSecret})
		var fields struct{ N, W, U, P, S string }
		_ = json.Unmarshal(plain, &fields)
		want.Name, want.WebhookSecret = fields.N, secret.String(fields.W)
		want.SIP.Users[0] = tenancy.SIPUser{Username: fields.U, Password: secret.String(fields.P)}
		want.SIP.Allowlist = []string{fields.N}
		want.Recording.Bucket.S3.AccessKeyID = fields.U
		want.Recording.Bucket.S3.SecretAccessKey = secret.String(fields.S)
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, want)
		}
	})
}

// FuzzPresentedKey: a key sent in either header is the key read back.
func FuzzPresentedKey(f *testing.F) {
	f.Add("vgk_abc", true)
	f.Add(" spaced ", false)
	f.Fuzz(func(t *testing.T, key string, bearer bool) {
		r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		if bearer {
			r.Header.Set("Authorization", "Bearer "+key)
		} else {
			r.Header.Set(KeyHeader, key)
		}
		got, err := PresentedKey(r)
		want := r.Header.Get(KeyHeader)
		if bearer {
			want = r.Header.Get("Authorization")[len("Bearer "):]
		}
		want = string(bytes.TrimSpace([]byte(want)))
		if want == "" {
			if err == nil {
				t.Fatalf("empty key %q accepted", key)
			}
			return
		}
		if err != nil || got.Reveal() != want {
			t.Fatalf("PresentedKey = %q, %v; want %q", got.Reveal(), err, want)
		}
	})
}
