package tenancy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

func s3Bucket() bucketconfig.Config {
	return bucketconfig.Config{Vendor: bucketconfig.VendorS3, S3: &bucketconfig.S3{
		Bucket: "recordings", Region: "eu-west-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}}
}

func fieldsOf(err error) []string {
	var out []string
	for _, fe := range tenancy.FieldErrors(err) {
		out = append(out, fe.Field)
	}
	return out
}

func TestAccountValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*tenancy.Account)
		fields []string // nil: valid
	}{
		{"minimal", func(a *tenancy.Account) {}, nil},
		{"realm", func(a *tenancy.Account) { a.SIPRealm = "sip.example.com" }, nil},
		{"realm with digits and hyphens", func(a *tenancy.Account) { a.SIPRealm = "tenant-42.sip2.example.io" }, nil},
		{"realm single label", func(a *tenancy.Account) { a.SIPRealm = "localhost" }, []string{"sip_realm"}},
		{"realm IPv4", func(a *tenancy.Account) { a.SIPRealm = "192.0.2.1" }, []string{"sip_realm"}},
		{"realm empty label", func(a *tenancy.Account) { a.SIPRealm = "sip..example.com" }, []string{"sip_realm"}},
		{"realm leading hyphen", func(a *tenancy.Account) { a.SIPRealm = "-sip.example.com" }, []string{"sip_realm"}},
		{"realm trailing hyphen", func(a *tenancy.Account) { a.SIPRealm = "sip-.example.com" }, []string{"sip_realm"}},
		{"realm underscore", func(a *tenancy.Account) { a.SIPRealm = "sip_1.example.com" }, []string{"sip_realm"}},
		{"realm long label", func(a *tenancy.Account) { a.SIPRealm = strings.Repeat("a", 64) + ".com" }, []string{"sip_realm"}},
		{"realm too long", func(a *tenancy.Account) { a.SIPRealm = strings.Repeat("abcdefghi.", 26) + "com" }, []string{"sip_realm"}},
		{"realm with port", func(a *tenancy.Account) { a.SIPRealm = "sip.example.com:5060" }, []string{"sip_realm"}},
		{"name missing", func(a *tenancy.Account) { a.Name = "" }, []string{"name"}},
		{"name too long", func(a *tenancy.Account) { a.Name = strings.Repeat("x", 129) }, []string{"name"}},
		{"name with newline", func(a *tenancy.Account) { a.Name = "a\nb" }, []string{"name"}},
		{"name not UTF-8", func(a *tenancy.Account) { a.Name = "\xff" }, []string{"name"}},
		{"unit", func(a *tenancy.Account) { a.Unit = "calls" }, []string{"unit"}},
		{"minutes unit", func(a *tenancy.Account) { a.Unit = tenancy.UnitMinutes; a.MaxUnits = 100 }, nil},
		{"negative numbers", func(a *tenancy.Account) { a.MaxUnits, a.LicensedSessions = -1, -1 }, []string{"max_units", "licensed_sessions"}},
		{"short webhook secret", func(a *tenancy.Account) { a.WebhookSecret = "0123456789abcde" }, []string{"webhook_secret"}},
		{"webhook https", func(a *tenancy.Account) { a.RegistrationWebhook = "https://hooks.example.com/reg?x=1" }, nil},
		{"webhook ws", func(a *tenancy.Account) { a.RegistrationWebhook = "wss://hooks.example.com/reg" }, []string{"registration_webhook"}},
		{"webhook no host", func(a *tenancy.Account) { a.QueueEventWebhook = "https:///queue" }, []string{"queue_event_webhook"}},
		{"webhook fragment", func(a *tenancy.Account) { a.QueueEventWebhook = "https://h.example.com/q#x" }, []string{"queue_event_webhook"}},
		{"application not a SID", func(a *tenancy.Account) { a.DeviceCallsApplication = "app-1" }, []string{"device_calls_application"}},
		{"format", func(a *tenancy.Account) { a.Recording.Format = "flac" }, []string{"recording.format"}},
		{"recording enabled without bucket", func(a *tenancy.Account) { a.Recording.Enabled = true }, []string{"recording.bucket"}},
		{"recording enabled with bucket", func(a *tenancy.Account) { a.Recording.Enabled = true; a.Recording.Bucket = s3Bucket() }, nil},
		{"bucket field named", func(a *tenancy.Account) {
			b := s3Bucket()
			b.S3.Region = ""
			a.Recording.Bucket = b
		}, []string{"recording.bucket.s3.region"}},
		{"several fields at once", func(a *tenancy.Account) { a.Name, a.Unit, a.SIPRealm = "", "x", "bad" }, []string{"name", "unit", "sip_realm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tenancy.Account{Name: "Acme"}
			tc.edit(&a)
			err := a.Validate()
			if got := fieldsOf(err); !reflect.DeepEqual(got, tc.fields) {
				t.Fatalf("fields %v, want %v (err %v)", got, tc.fields, err)
			}
			if tc.fields != nil && !errors.Is(err, tenancy.ErrInvalid) {
				t.Fatalf("err %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidationErrorsNeverShowSecrets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a      tenancy.Account
		leaks  []string
		fields []string
	}{
		{
			name:   "webhook secret and webhook URL password",
			a:      tenancy.Account{Name: "Acme", WebhookSecret: "tooshort", RegistrationWebhook: "ftp://user:hunter2-password@h/x"},
			leaks:  []string{"tooshort", "hunter2-password"},
			fields: []string{"registration_webhook", "webhook_secret"},
		},
		{
			name:   "bucket and bucket_url both given",
			a:      tenancy.Account{Name: "Acme", Recording: tenancy.RecordingConfig{BucketURL: "s3://AKIA:SECRETKEY1@bucket", Bucket: s3Bucket()}},
			leaks:  []string{"AKIA", "SECRETKEY1", "bPxRfiCYEXAMPLEKEY"},
			fields: []string{"recording.bucket_url"},
		},
		{
			name:   "unparsable bucket_url with credentials",
			a:      tenancy.Account{Name: "Acme", Recording: tenancy.RecordingConfig{BucketURL: "s3://AKIA:SECRETKEY1@bucket/%zz"}},
			leaks:  []string{"AKIA", "SECRETKEY1"},
			fields: []string{"recording.bucket_url"},
		},
		{
			name:   "bucket_url with credentials",
			a:      tenancy.Account{Name: "Acme", Recording: tenancy.RecordingConfig{BucketURL: "s3://AKIA:SECRETKEY1@bucket"}},
			leaks:  []string{"AKIA", "SECRETKEY1"},
			fields: []string{"recording.bucket_url"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Validate()
			if err == nil {
				t.Fatal("invalid account accepted")
			}
			for _, leak := range tc.leaks {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q shows %q", err, leak)
				}
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f) {
					t.Fatalf("error %q does not name the field %s", err, f)
				}
			}
		})
	}
}

func TestAccountSecretsRedacted(t *testing.T) {
	a := tenancy.Account{Name: "Acme", WebhookSecret: "whsec_very_secret_value_123", Recording: tenancy.RecordingConfig{Bucket: s3Bucket()}}
	j, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("account", "a", a)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("account", "a", a)
	for _, out := range []string{string(j), buf.String(), fmt.Sprintf("%v %+v %#v", a, a, a)} {
		for _, s := range []string{"very_secret_value", "bPxRfiCYEXAMPLEKEY"} {
			if strings.Contains(out, s) {
				t.Fatalf("secret %q appears in %s", s, out)
			}
		}
	}
	if !strings.Contains(string(j), `"webhook_secret":"whseXXXX`) {
		t.Fatalf("JSON does not hold the masked secret: %s", j)
	}
}

func TestUpdateKeepsMaskedBucketSecret(t *testing.T) {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	a, err := s.CreateAccount(ctx, &tenancy.Account{Name: "Acme", Recording: tenancy.RecordingConfig{Enabled: true, Bucket: s3Bucket()}})
	if err != nil {
		t.Fatal(err)
	}
	// The operator's form: the JSON show-back, submitted back unchanged
	// except for the licensed sessions.
	j, _ := json.Marshal(a)
	var form tenancy.Account
	if err := json.Unmarshal(j, &form); err != nil {
		t.Fatal(err)
	}
	if form.Recording.Bucket.S3.SecretAccessKey.Reveal() == s3Bucket().S3.SecretAccessKey.Reveal() {
		t.Fatal("show-back form carries the real secret")
	}
	form.LicensedSessions = 3
	got, err := s.UpdateAccount(ctx, &form)
	if err != nil {
		t.Fatal(err)
	}
	if got.Recording.Bucket.S3.SecretAccessKey.Reveal() != s3Bucket().S3.SecretAccessKey.Reveal() ||
		!got.WebhookSecret.Equal(a.WebhookSecret) || got.LicensedSessions != 3 {
		t.Fatal("saving the masked form lost a stored secret")
	}
	// Pointing the secret at a new endpoint requires it again.
	compat := bucketconfig.Config{Vendor: bucketconfig.VendorS3Compatible, S3Compatible: &bucketconfig.S3Compatible{
		Endpoint: "https://minio.example.net:9000", Bucket: "rec", AccessKeyID: "minio", SecretAccessKey: "minio-secret-key-123"}}
	got.Recording.Bucket = compat
	got, err = s.UpdateAccount(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	got.Recording.Bucket = got.Recording.Bucket.Masked()
	got.Recording.Bucket.S3Compatible.Endpoint = "https://attacker.example.org"
	_, err = s.UpdateAccount(ctx, got)
	if f := fieldsOf(err); len(f) != 1 || f[0] != "recording.bucket.s3_compatible.secret_access_key" {
		t.Fatalf("moved endpoint with a masked secret: %v", err)
	}
}

func TestParseSID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4", "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4", true},
		{"2F4B8A3E-93C1-4C59-9D0E-6A1D52B7F0C4", "2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4", true},
		{"2f4b8a3e93c14c599d0e6a1d52b7f0c4", "", false},
		{"2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0cg", "", false},
		{"2f4b8a3e-93c1_4c59-9d0e-6a1d52b7f0c4", "", false},
		{"", "", false},
	} {
		got, err := tenancy.ParseSID(tc.in)
		if (err == nil) != tc.ok || string(got) != tc.want {
			t.Errorf("ParseSID(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in)) {
			t.Errorf("error %q does not name the input", err)
		}
	}
	seen := map[tenancy.SID]bool{}
	for range 100 {
		s := tenancy.NewSID()
		if p, err := tenancy.ParseSID(string(s)); err != nil || p != s || s[14] != '4' || seen[s] {
			t.Fatalf("NewSID = %q (%v)", s, err)
		}
		seen[s] = true
	}
}

func TestDecide(t *testing.T) {
	acct := tenancy.SID("2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4")
	other := tenancy.SID("9a0e0f4c-1111-4c59-9d0e-6a1d52b7f0c4")
	recApp := &tenancy.Application{SID: tenancy.NewSID(), Account: acct, RecordAllCalls: true}
	plainApp := &tenancy.Application{SID: tenancy.NewSID(), Account: acct}
	foreignApp := &tenancy.Application{SID: tenancy.NewSID(), Account: other, RecordAllCalls: true}
	for _, tc := range []struct {
		name         string
		enabled, all bool
		format       tenancy.AudioFormat
		app          *tenancy.Application
		record       bool
		wantFormat   tenancy.AudioFormat
	}{
		{"disabled account, recording app", false, true, "mp3", recApp, false, ""},
		{"account records all, plain app", true, true, "mp3", plainApp, true, "mp3"},
		{"account records all, no app", true, true, "", nil, true, "wav"},
		{"app records", true, false, "mp3", recApp, true, "mp3"},
		{"app does not record", true, false, "wav", plainApp, false, ""},
		{"no app", true, false, "wav", nil, false, ""},
		{"another account's app", true, false, "wav", foreignApp, false, ""},
		{"account records all, another account's app", true, true, "wav", foreignApp, true, "wav"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &tenancy.Account{SID: acct, Recording: tenancy.RecordingConfig{Enabled: tc.enabled, RecordAllCalls: tc.all, Format: tc.format}}
			d := tenancy.Decide(a, tc.app)
			if d.Record != tc.record || d.Format != tc.wantFormat || d.Reason == "" {
				t.Fatalf("Decide = %+v, want record %v format %q", d, tc.record, tc.wantFormat)
			}
		})
	}
}

func TestStoreDecide(t *testing.T) {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	a, _ := s.CreateAccount(ctx, &tenancy.Account{Name: "A", Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatMP3, Bucket: s3Bucket()}})
	app, _ := s.CreateApplication(ctx, &tenancy.Application{Account: a.SID, Name: "ivr", RecordAllCalls: true})
	d, err := s.Decide(ctx, a.SID, app.SID)
	if err != nil || !d.Record || d.Format != tenancy.FormatMP3 {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
	if _, err := s.Decide(ctx, a.SID, tenancy.NewSID()); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("unknown application: %v", err)
	}
}

func TestRecordingKey(t *testing.T) {
	acct, app := tenancy.SID("2f4b8a3e-93c1-4c59-9d0e-6a1d52b7f0c4"), tenancy.SID("9a0e0f4c-1111-4c59-9d0e-6a1d52b7f0c4")
	for _, tc := range []struct {
		app     tenancy.SID
		session string
		f       tenancy.AudioFormat
		want    string
	}{
		{app, "8ae433e8", tenancy.FormatWAV, string(acct) + "/" + string(app) + "/8ae433e8.wav"},
		{app, "8ae433e8", tenancy.FormatMP3, string(acct) + "/" + string(app) + "/8ae433e8.mp3"},
		{"", "s1", tenancy.FormatWAV, string(acct) + "/-/s1.wav"},
		{app, "../../etc/passwd", tenancy.FormatWAV, string(acct) + "/" + string(app) + "/.._.._etc_passwd.wav"},
	} {
		if got := tenancy.RecordingKey(acct, tc.app, tc.session, tc.f); got != tc.want {
			t.Errorf("RecordingKey(%q) = %q, want %q", tc.session, got, tc.want)
		}
	}
}

func TestChangedFields(t *testing.T) {
	base := tenancy.Account{SID: tenancy.NewSID(), Name: "Acme", Unit: tenancy.UnitSessions, WebhookSecret: "whsec_aaaaaaaaaaaaaaaaaaaa"}
	for _, tc := range []struct {
		name string
		edit func(*tenancy.Account)
		want []string
	}{
		{"nothing", func(a *tenancy.Account) {}, nil},
		{"licensed sessions", func(a *tenancy.Account) { a.LicensedSessions = 5 }, []string{"licensed_sessions"}},
		{"unit and max", func(a *tenancy.Account) { a.Unit, a.MaxUnits = tenancy.UnitMinutes, 100 }, []string{"unit", "max_units"}},
		{"realm and recording", func(a *tenancy.Account) { a.SIPRealm = "x.example.com"; a.Recording.Bucket = s3Bucket() }, []string{"sip_realm", "recording"}},
		{"webhook secret", func(a *tenancy.Account) { a.WebhookSecret = "whsec_bbbbbbbbbbbbbbbbbbbb" }, []string{"webhook_secret"}},
		{"webhook secret left empty", func(a *tenancy.Account) { a.WebhookSecret = "" }, nil},
		{"webhook secret submitted masked", func(a *tenancy.Account) { a.WebhookSecret = secret.String(a.WebhookSecret.Mask()) }, nil},
		{"CAD", func(a *tenancy.Account) { a.CallAttachedData = []tenancy.CADField{{Name: "x", Value: "A.b"}} }, []string{"call_attached_data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base.Clone()
			tc.edit(n)
			if got := tenancy.ChangedFields(&base, n); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ChangedFields = %v, want %v", got, tc.want)
			}
		})
	}
	withBucket := base.Clone()
	withBucket.Recording.Bucket = s3Bucket()
	masked := withBucket.Clone()
	masked.Recording.Bucket = masked.Recording.Bucket.Masked()
	if got := tenancy.ChangedFields(withBucket, masked); got != nil {
		t.Fatalf("bucket submitted masked: %v", got)
	}
	created := tenancy.ChangedFields(nil, &tenancy.Account{Name: "New", Unit: tenancy.UnitSessions, LicensedSessions: 10})
	if !reflect.DeepEqual(created, []string{"name", "licensed_sessions"}) {
		t.Fatalf("ChangedFields(nil, new) = %v", created)
	}
}

func TestCallAttachedData(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []tenancy.CADField
		want   []string
	}{
		{"seed example", []tenancy.CADField{{Name: "tenant_field_org_id", Value: "Interaction.organizationId"}, {Name: "tenant_field_status", Value: "Interaction.status"}}, nil},
		{"empty", nil, nil},
		{"duplicate name", []tenancy.CADField{{Name: "a", Value: "X.y"}, {Name: "b", Value: "X.y"}, {Name: "a", Value: "X.z"}}, []string{"call_attached_data[2].name"}},
		{"name missing", []tenancy.CADField{{Name: "", Value: "X.y"}}, []string{"call_attached_data[0].name"}},
		{"name starts with digit", []tenancy.CADField{{Name: "1a", Value: "X.y"}}, []string{"call_attached_data[0].name"}},
		{"name with space", []tenancy.CADField{{Name: "org id", Value: "X.y"}}, []string{"call_attached_data[0].name"}},
		{"name too long", []tenancy.CADField{{Name: strings.Repeat("a", 65), Value: "X.y"}}, []string{"call_attached_data[0].name"}},
		{"value one part", []tenancy.CADField{{Name: "a", Value: "status"}}, []string{"call_attached_data[0].value"}},
		{"value empty part", []tenancy.CADField{{Name: "a", Value: "Interaction..status"}}, []string{"call_attached_data[0].value"}},
		{"value trailing dot", []tenancy.CADField{{Name: "a", Value: "Interaction."}}, []string{"call_attached_data[0].value"}},
		{"value with dash", []tenancy.CADField{{Name: "a", Value: "Interaction.org-id"}}, []string{"call_attached_data[0].value"}},
		{"value missing", []tenancy.CADField{{Name: "a"}}, []string{"call_attached_data[0].value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tenancy.ValidateCallAttachedData(tc.fields)
			if got := fieldsOf(err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("fields %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
	fields := []tenancy.CADField{{Name: "tenant_field_status", Value: "Interaction.status"}, {Name: "tenant_field_org_id", Value: "Interaction.organizationId"}, {Name: "agent", Value: "Interaction.agentId"}}
	p, err := tenancy.BuildPayload(fields, tenancy.Variables{"Interaction.organizationId": "org-7", "Interaction.status": "completed", "Interaction.other": 1})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(p)
	if string(j) != `{"tenant_field_status":"completed","tenant_field_org_id":"org-7","agent":null}` {
		t.Fatalf("payload %s", j)
	}
	if v, ok := p.Get("tenant_field_org_id"); !ok || v != "org-7" {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	if _, err := tenancy.BuildPayload([]tenancy.CADField{{Name: "x", Value: "bad"}}, nil); !errors.Is(err, tenancy.ErrInvalid) {
		t.Fatalf("BuildPayload with invalid mapping: %v", err)
	}
}

func TestApplicationValidate(t *testing.T) {
	for _, tc := range []struct {
		app  tenancy.Application
		want []string
	}{
		{tenancy.Application{Account: tenancy.NewSID(), Name: "ivr"}, nil},
		{tenancy.Application{Name: "ivr"}, []string{"account_sid"}},
		{tenancy.Application{Account: tenancy.NewSID()}, []string{"name"}},
		{tenancy.Application{Account: "x", Name: strings.Repeat("n", 200)}, []string{"account_sid", "name"}},
	} {
		if got := fieldsOf(tc.app.Validate()); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Validate(%+v) fields %v, want %v", tc.app, got, tc.want)
		}
	}
}

// A bucket field that is missing says so: the account's FieldError matches
// both tenancy.ErrInvalid and storage's own ErrMissingField.
func TestBucketFieldKeepsStorageSentinel(t *testing.T) {
	b := s3Bucket()
	b.S3.Region = ""
	a := tenancy.Account{Name: "Acme", Recording: tenancy.RecordingConfig{Enabled: true, Bucket: b}}
	fes := tenancy.FieldErrors(a.Validate())
	if len(fes) != 1 {
		t.Fatalf("field errors %v, want one", fes)
	}
	fe := fes[0]
	if !errors.Is(fe, tenancy.ErrInvalid) || !errors.Is(fe, bucketconfig.ErrMissingField) {
		t.Fatalf("%v: matches ErrInvalid %v, ErrMissingField %v; want both", fe, errors.Is(fe, tenancy.ErrInvalid), errors.Is(fe, bucketconfig.ErrMissingField))
	}
	if !strings.Contains(fe.Error(), "recording.bucket.s3.region") || !strings.Contains(fe.Error(), "missing") {
		t.Fatalf("message %q does not name the field and say it is missing", fe)
	}
}

func TestCanonicalRealm(t *testing.T) {
	for in, want := range map[string]string{
		"Acme.Example.":   "acme.example",
		" acme.example\t": "acme.example",
		"ACME.EXAMPLE":    "acme.example",
		"acme.example":    "acme.example",
		".":               "",
		"":                "",
		"acme.example..":  "acme.example.", // one trailing dot, as AccountByRealm always did
	} {
		if got := tenancy.CanonicalRealm(in); got != want {
			t.Errorf("CanonicalRealm(%q) = %q, want %q", in, got, want)
		}
	}
	a := tenancy.Account{SIPRealm: " Acme.Example. "}
	a.Normalize()
	if a.SIPRealm != tenancy.CanonicalRealm(" Acme.Example. ") {
		t.Errorf("Normalize keeps the realm %q, CanonicalRealm gives %q", a.SIPRealm, tenancy.CanonicalRealm(" Acme.Example. "))
	}
}

func ExampleCanonicalRealm() {
	fmt.Println(tenancy.CanonicalRealm(" Acme.Example. "))
	// Output: acme.example
}
