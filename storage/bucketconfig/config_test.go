package bucketconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/rbac/secret"
	"gopkg.in/yaml.v3"
)

const testPEM = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n"

func serviceKeyJSON(email string) secret.String {
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "k1",
		"private_key": testPEM, "client_email": email, "token_uri": "https://oauth2.googleapis.com/token",
	})
	return secret.String(b)
}

const azureCS = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"

func validConfigs() map[Vendor]Config {
	return map[Vendor]Config{
		VendorS3: {Vendor: VendorS3, S3: &S3{
			Bucket: "call-recordings.eu", Region: "eu-central-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
			SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			Tags:            Tags{{"team", "voice"}, {"cost-center", "42 / ops"}},
		}},
		VendorS3Compatible: {Vendor: VendorS3Compatible, S3Compatible: &S3Compatible{
			Endpoint: "http://127.0.0.1:9000", PathStyle: true, Bucket: "recordings",
			AccessKeyID: "minio", SecretAccessKey: "minio-secret-key",
		}},
		VendorGCS: {Vendor: VendorGCS, GCS: &GCS{
			Bucket: "recordings_01", ServiceKey: serviceKeyJSON("rec@p.iam.gserviceaccount.com"),
			Tags: Tags{{"Team", "voice"}},
		}},
		VendorAzure: {Vendor: VendorAzure, Azure: &Azure{
			Container: "recordings", ConnectionString: azureCS, Tags: Tags{{"team", "voice"}},
		}},
		VendorFile:   {Vendor: VendorFile, File: &File{Dir: "/var/lib/voicegw/recordings"}},
		VendorMemory: {Vendor: VendorMemory},
	}
}

func TestValidateAcceptsEveryVendor(t *testing.T) {
	for v, c := range validConfigs() {
		t.Run(string(v), func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	vc := validConfigs()
	mod := func(v Vendor, f func(*Config)) Config {
		c := vc[v].Clone()
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name  string
		c     Config
		field string
		want  error
	}{
		{"no vendor", Config{}, "vendor", ErrMissingField},
		{"unknown vendor", Config{Vendor: "dropbox"}, "vendor", ErrInvalidField},
		{"vendor without section", Config{Vendor: VendorS3}, "s3", ErrMissingField},
		{"section of another vendor", mod(VendorS3, func(c *Config) { c.Azure = vc[VendorAzure].Azure }), "azure", ErrInvalidField},
		{"s3 bucket missing", mod(VendorS3, func(c *Config) { c.S3.Bucket = "" }), "s3.bucket", ErrMissingField},
		{"s3 bucket uppercase", mod(VendorS3, func(c *Config) { c.S3.Bucket = "Recordings" }), "s3.bucket", ErrInvalidField},
		{"s3 bucket too short", mod(VendorS3, func(c *Config) { c.S3.Bucket = "ab" }), "s3.bucket", ErrInvalidField},
		{"s3 bucket ip", mod(VendorS3, func(c *Config) { c.S3.Bucket = "192.168.1.1" }), "s3.bucket", ErrInvalidField},
		{"s3 bucket double dot", mod(VendorS3, func(c *Config) { c.S3.Bucket = "a..b" }), "s3.bucket", ErrInvalidField},
		{"s3 region missing", mod(VendorS3, func(c *Config) { c.S3.Region = "" }), "s3.region", ErrMissingField},
		{"s3 region bad", mod(VendorS3, func(c *Config) { c.S3.Region = "Frankfurt" }), "s3.region", ErrInvalidField},
		{"s3 access key missing", mod(VendorS3, func(c *Config) { c.S3.AccessKeyID = "" }), "s3.access_key_id", ErrMissingField},
		{"s3 access key bad", mod(VendorS3, func(c *Config) { c.S3.AccessKeyID = "AKIA IOSFODNN7EXAMPLE" }), "s3.access_key_id", ErrInvalidField},
		{"s3 secret missing", mod(VendorS3, func(c *Config) { c.S3.SecretAccessKey = "" }), "s3.secret_access_key", ErrMissingField},
		{"s3 secret with newline", mod(VendorS3, func(c *Config) { c.S3.SecretAccessKey = "abc\n" }), "s3.secret_access_key", ErrInvalidField},
		{"s3 too many tags", mod(VendorS3, func(c *Config) {
			for i := range 11 {
				c.S3.Tags = append(c.S3.Tags, Tag{fmt.Sprint("t", i), "v"})
			}
			c.S3.Tags = c.S3.Tags[2:]
		}), "s3.tags", ErrInvalidField},
		{"s3 tag without name", mod(VendorS3, func(c *Config) { c.S3.Tags[1].Name = "" }), "s3.tags[1].name", ErrMissingField},
		{"s3 tag bad char", mod(VendorS3, func(c *Config) { c.S3.Tags[0].Value = "a&b" }), "s3.tags[0].value", ErrInvalidField},
		{"s3 duplicate tag", mod(VendorS3, func(c *Config) { c.S3.Tags[1].Name = "team" }), "s3.tags[1].name", ErrInvalidField},
		{"s3 tag name too long", mod(VendorS3, func(c *Config) { c.S3.Tags[0].Name = strings.Repeat("n", 129) }), "s3.tags[0].name", ErrInvalidField},
		{"compatible endpoint missing", mod(VendorS3Compatible, func(c *Config) { c.S3Compatible.Endpoint = "" }), "s3_compatible.endpoint", ErrMissingField},
		{"compatible endpoint ftp", mod(VendorS3Compatible, func(c *Config) { c.S3Compatible.Endpoint = "ftp://x" }), "s3_compatible.endpoint", ErrInvalidField},
		{"compatible endpoint with user", mod(VendorS3Compatible, func(c *Config) { c.S3Compatible.Endpoint = "http://u:p@x" }), "s3_compatible.endpoint", ErrInvalidField},
		{"compatible bucket slash", mod(VendorS3Compatible, func(c *Config) { c.S3Compatible.Bucket = "a/b" }), "s3_compatible.bucket", ErrInvalidField},
		{"compatible region space", mod(VendorS3Compatible, func(c *Config) { c.S3Compatible.Region = "us east" }), "s3_compatible.region", ErrInvalidField},
		{"gcs bucket goog", mod(VendorGCS, func(c *Config) { c.GCS.Bucket = "google-recordings" }), "gcs.bucket", ErrInvalidField},
		{"gcs key missing", mod(VendorGCS, func(c *Config) { c.GCS.ServiceKey = "" }), "gcs.service_key", ErrMissingField},
		{"gcs key not json", mod(VendorGCS, func(c *Config) { c.GCS.ServiceKey = "{not json" }), "gcs.service_key", ErrInvalidField},
		{"gcs key wrong type", mod(VendorGCS, func(c *Config) { c.GCS.ServiceKey = `{"type":"authorized_user"}` }), "gcs.service_key", ErrInvalidField},
		{"gcs duplicate tag by case", mod(VendorGCS, func(c *Config) { c.GCS.Tags = append(c.GCS.Tags, Tag{"TEAM", "x"}) }), "gcs.tags[1].name", ErrInvalidField},
		{"gcs tag name with space", mod(VendorGCS, func(c *Config) { c.GCS.Tags[0].Name = "my team" }), "gcs.tags[0].name", ErrInvalidField},
		{"gcs endpoint bad", mod(VendorGCS, func(c *Config) { c.GCS.Endpoint = "localhost:4443" }), "gcs.endpoint", ErrInvalidField},
		{"azure container missing", mod(VendorAzure, func(c *Config) { c.Azure.Container = "" }), "azure.container", ErrMissingField},
		{"azure container double hyphen", mod(VendorAzure, func(c *Config) { c.Azure.Container = "rec--x" }), "azure.container", ErrInvalidField},
		{"azure connection string missing", mod(VendorAzure, func(c *Config) { c.Azure.ConnectionString = "" }), "azure.connection_string", ErrMissingField},
		{"azure connection string no key", mod(VendorAzure, func(c *Config) { c.Azure.ConnectionString = "AccountName=a;EndpointSuffix=core.windows.net" }), "azure.connection_string", ErrInvalidField},
		{"azure tag with @", mod(VendorAzure, func(c *Config) { c.Azure.Tags[0].Value = "a@b" }), "azure.tags[0].value", ErrInvalidField},
		{"file dir missing", mod(VendorFile, func(c *Config) { c.File.Dir = "" }), "file.dir", ErrMissingField},
		{"file dir relative", mod(VendorFile, func(c *Config) { c.File.Dir = "recordings" }), "file.dir", ErrInvalidField},
		{"memory tag without name", Config{Vendor: VendorMemory, Memory: &Memory{Tags: Tags{{"", "x"}}}}, "memory.tags[0].name", ErrMissingField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil {
				t.Fatal("Validate accepted the configuration")
			}
			if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, tc.want) {
				t.Fatalf("errors.Is(%v, ErrInvalidConfig/%v) = false", err, tc.want)
			}
			fes := FieldErrors(err)
			if len(fes) != 1 || fes[0].Field != tc.field {
				t.Fatalf("field errors %v, want exactly one for %q", err, tc.field)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("errors.As did not give the field error for %q", tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("message %q does not name %q", err, tc.field)
			}
		})
	}
}

func TestValidateReportsEveryBadField(t *testing.T) {
	c := Config{Vendor: VendorS3, S3: &S3{Bucket: "x"}}
	var got []string
	for _, fe := range FieldErrors(c.Validate()) {
		got = append(got, fe.Field)
	}
	want := []string{"s3.bucket", "s3.region", "s3.access_key_id", "s3.secret_access_key"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
}

// Secrets never reach an error message, even when the secret is the bad value.
func TestValidateNeverQuotesSecrets(t *testing.T) {
	const leak = "TOPSECRETVALUE"
	for _, c := range []Config{
		{Vendor: VendorS3, S3: &S3{Bucket: "ok-bucket", Region: "eu-west-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: leak + " \n"}},
		{Vendor: VendorGCS, GCS: &GCS{Bucket: "ok-bucket", ServiceKey: `{"type":"` + leak + `"`}},
		{Vendor: VendorGCS, GCS: &GCS{Bucket: "ok-bucket", ServiceKey: leak}},
		{Vendor: VendorAzure, Azure: &Azure{Container: "ok-bucket", ConnectionString: "AccountName=" + leak + ";" + leak}},
		{Vendor: VendorAzure, Azure: &Azure{Container: "ok-bucket", ConnectionString: "AccountName=x;AccountKey=" + leak + ";BlobEndpoint=" + leak}},
	} {
		err := c.Validate()
		if err == nil {
			t.Fatalf("%v: accepted", c)
		}
		if strings.Contains(err.Error(), leak) {
			t.Fatalf("error leaks the secret: %v", err)
		}
	}
}

func TestJSONAndYAMLShowMaskedSecrets(t *testing.T) {
	c := validConfigs()[VendorS3]
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"vendor":"s3","s3":{"bucket":"call-recordings.eu","region":"eu-central-1","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"wJalXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","tags":[{"name":"team","value":"voice"},{"name":"cost-center","value":"42 / ops"}]}}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "wJalrXUtn") || !strings.Contains(string(y), "secret_access_key: wJalXXXX") {
		t.Fatalf("YAML does not mask the secret:\n%s", y)
	}
	// A configuration file holds the plain secret; reading it keeps it.
	var fromFile Config
	src := "vendor: s3-compatible\ns3_compatible:\n  endpoint: http://127.0.0.1:9000\n  path_style: true\n  bucket: rec\n  access_key_id: minio\n  secret_access_key: minio-secret-key\n  tags:\n    - {name: team, value: voice}\n"
	if err := yaml.Unmarshal([]byte(src), &fromFile); err != nil {
		t.Fatal(err)
	}
	if err := fromFile.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := fromFile.S3Compatible.SecretAccessKey.Reveal(); got != "minio-secret-key" || !fromFile.S3Compatible.PathStyle || fromFile.Tags().Map()["team"] != "voice" {
		t.Fatalf("YAML read %+v", fromFile.S3Compatible)
	}
}

func TestPrintedFormsAreRedacted(t *testing.T) {
	for v, c := range validConfigs() {
		var sb strings.Builder
		l := slog.New(slog.NewTextHandler(&sb, nil))
		l.Info("cfg", "config", c, "section", c.S3, "gcs", c.GCS, "azure", c.Azure)
		out := sb.String() + fmt.Sprintf("%v %+v %#v %s", c, c, c, c)
		for _, ns := range c.secrets() {
			if strings.Contains(out, ns.s.Reveal()) || strings.Contains(out, ns.s.Reveal()[:8]) {
				t.Fatalf("%s: printed form leaks %s: %s", v, ns.field, out)
			}
		}
	}
}

func TestMaskedAndMerge(t *testing.T) {
	for v, stored := range validConfigs() {
		t.Run(string(v), func(t *testing.T) {
			shown := stored.Masked()
			for i, ns := range shown.secrets() {
				orig := stored.secrets()[i]
				if ns.s.Equal(*orig.s) || ns.s.Reveal() != orig.s.Mask() {
					t.Fatalf("%s not masked: %q", ns.field, ns.s.Reveal())
				}
			}
			// The form comes back unchanged, as JSON from a browser.
			b, _ := json.Marshal(shown)
			var submitted Config
			if err := json.Unmarshal(b, &submitted); err != nil {
				t.Fatal(err)
			}
			merged, err := stored.Merge(submitted)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(merged, stored) {
				t.Fatalf("merge of the unchanged form\n got %#v\nwant %#v", merged, stored)
			}
		})
	}
	stored := validConfigs()[VendorS3]
	t.Run("new secret replaces", func(t *testing.T) {
		sub := stored.Masked()
		sub.S3.SecretAccessKey = "a-new-secret-key-value"
		sub.S3.Bucket = "other-bucket"
		m, err := stored.Merge(sub)
		if err != nil || m.S3.SecretAccessKey.Reveal() != "a-new-secret-key-value" || m.S3.Bucket != "other-bucket" {
			t.Fatalf("merge = %+v, %v", m.S3, err)
		}
	})
	t.Run("empty keeps", func(t *testing.T) {
		sub := stored.Masked()
		sub.S3.SecretAccessKey = ""
		m, err := stored.Merge(sub)
		if err != nil || !m.S3.SecretAccessKey.Equal(stored.S3.SecretAccessKey) {
			t.Fatalf("merge = %v", err)
		}
	})
	t.Run("vendor change keeps nothing", func(t *testing.T) {
		sub := validConfigs()[VendorAzure].Masked()
		m, err := stored.Merge(sub)
		if err != nil || m.Azure.ConnectionString.Reveal() != secret.String(azureCS).Mask() {
			t.Fatalf("merge = %v %v", m.Azure, err)
		}
	})
	t.Run("merge does not alias the stored config", func(t *testing.T) {
		m, _ := stored.Merge(stored.Masked())
		m.S3.Tags[0].Value = "changed"
		if stored.S3.Tags[0].Value != "voice" {
			t.Fatal("Merge result shares tags with the stored config")
		}
	})
	for _, v := range []Vendor{VendorS3Compatible, VendorGCS} {
		t.Run(string(v)+" endpoint moved", func(t *testing.T) {
			st := validConfigs()[v]
			if v == VendorGCS {
				st.GCS.Endpoint = "http://127.0.0.1:4443/storage/v1/"
			}
			sub := st.Masked()
			if v == VendorGCS {
				sub.GCS.Endpoint = "https://attacker.example/storage/v1/"
			} else {
				sub.S3Compatible.Endpoint = "https://attacker.example"
			}
			_, err := st.Merge(sub)
			if !errors.Is(err, ErrMissingField) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Merge with a moved endpoint and a masked secret = %v", err)
			}
			// Retyping the secret is accepted.
			for _, ns := range sub.secrets() {
				for _, os := range st.secrets() {
					if os.section == ns.section {
						*ns.s = *os.s
					}
				}
			}
			if _, err := st.Merge(sub); err != nil {
				t.Fatalf("Merge with the secret retyped = %v", err)
			}
		})
	}
}

// fill sets every field reachable from v (a pointer) to a non-zero value
// derived from its path, so a round trip proves no field is lost.
func fill(v reflect.Value, p string) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), p)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), p+"."+v.Type().Field(i).Name)
		}
	case reflect.String:
		v.SetString("v" + p + "-ä\x00\"")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), fmt.Sprintf("%s[%d]", p, i))
		}
		v.Set(s)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

func TestStoredRoundTripKeepsEveryField(t *testing.T) {
	var c Config
	fill(reflect.ValueOf(&c).Elem(), "")
	b, err := c.MarshalStored()
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := back.UnmarshalStored(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("stored round trip lost something\n got %#v\nwant %#v", back, c)
	}
	// Every Secret field of every section is in the list Masked uses: a
	// masked copy differs from c in exactly the secret fields.
	n := 0
	for _, sec := range []any{c.S3, c.S3Compatible, c.GCS, c.Azure, c.File, c.Memory} {
		rv := reflect.ValueOf(sec).Elem()
		for i := range rv.NumField() {
			if rv.Field(i).Type() == reflect.TypeOf(secret.String("")) {
				n++
			}
		}
	}
	if got := len(c.secrets()); got != n {
		t.Fatalf("secrets() lists %d fields, the types have %d Secret fields", got, n)
	}
	// The show-back JSON is refused by UnmarshalStored.
	shown, _ := json.Marshal(c)
	if err := back.UnmarshalStored(shown); !errors.Is(err, ErrNotStoredForm) {
		t.Fatalf("UnmarshalStored(show-back JSON) = %v, want ErrNotStoredForm", err)
	}
	if err := back.UnmarshalStored([]byte(`{"stored_format":99,"vendor":"memory"}`)); err == nil {
		t.Fatal("UnmarshalStored accepted an unknown format")
	}
}

func TestStoredKeepsRealSecrets(t *testing.T) {
	c := validConfigs()[VendorAzure]
	b, err := c.MarshalStored()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "AccountKey=Eby8") || !strings.Contains(string(b), `"stored_format":1`) {
		t.Fatalf("stored form does not hold the real secret: %s", b)
	}
}

func FuzzStoredRoundTrip(f *testing.F) {
	f.Add("s3", "bucket", "secret/+=", "team", "voice")
	f.Add("gcs", "b", `{"type":"service_account"}`, "", "")
	f.Add("azure", "c", azureCS, "k", "\u00e9\x00")
	f.Fuzz(func(t *testing.T, vendor, bucket, sec, tn, tv string) {
		c := Config{Vendor: Vendor(vendor),
			S3:    &S3{Bucket: bucket, SecretAccessKey: secret.String(sec), Tags: Tags{{tn, tv}}},
			GCS:   &GCS{Bucket: bucket, ServiceKey: secret.String(sec)},
			Azure: &Azure{Container: bucket, ConnectionString: secret.String(sec)},
		}
		b, err := c.MarshalStored()
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := back.UnmarshalStored(b); err != nil {
			t.Fatal(err)
		}
		// encoding/json replaces invalid UTF-8, so compare through one more trip.
		b2, err := back.MarshalStored()
		if err != nil {
			t.Fatal(err)
		}
		var back2 Config
		if err := back2.UnmarshalStored(b2); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, back2) {
			t.Fatalf("round trip not stable: %#v vs %#v", back, back2)
		}
		if isUTF8(vendor, bucket, sec, tn, tv) && !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the config:\n got %#v\nwant %#v", back, c)
		}
	})
}

func isUTF8(ss ...string) bool {
	for _, s := range ss {
		if !json.Valid([]byte(mustJSON(s))) || strings.ContainsRune(s, '\uFFFD') {
			return false
		}
		var back string
		_ = json.Unmarshal([]byte(mustJSON(s)), &back)
		if back != s {
			return false
		}
	}
	return true
}

func mustJSON(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestParseConnectionString(t *testing.T) {
	for _, tc := range []struct {
		cs   string
		ok   bool
		name string
	}{
		{azureCS, true, "devstoreaccount1"},
		{"UseDevelopmentStorage=true", true, ""},
		{"BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022&sig=x", true, ""},
		{"AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net", true, "a"},
		{"AccountName=a;AccountKey=not base64!;EndpointSuffix=core.windows.net", false, ""},
		{"AccountName=a", false, ""},
		{"garbage", false, ""},
		{";;", false, ""},
		{"AccountKey=k", false, ""},
		{"AccountName=a;AccountKey=k;BlobEndpoint=ftp://x", false, ""},
	} {
		t.Run(tc.cs, func(t *testing.T) {
			got, err := ParseConnectionString(secret.String(tc.cs))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && got.Get("accountname") != tc.name {
				t.Fatalf("AccountName = %q", got.Get("accountname"))
			}
		})
	}
}

func FuzzParseConnectionString(f *testing.F) {
	f.Add(azureCS)
	f.Add("UseDevelopmentStorage=true")
	f.Add("BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022&sig=x")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseConnectionString(secret.String(s))
		if err != nil {
			if strings.Contains(err.Error(), s) && len(s) > 3 {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		// Round trip: re-joining the fields parses to the same fields.
		var parts []string
		for k, v := range cs.Fields {
			parts = append(parts, k+"="+v)
		}
		again, err := ParseConnectionString(secret.String(strings.Join(parts, ";")))
		if err != nil || !reflect.DeepEqual(again.Fields, cs.Fields) {
			t.Fatalf("round trip of %q: %v %v vs %v", s, err, again.Fields, cs.Fields)
		}
	})
}

func TestTagsWith(t *testing.T) {
	base := Tags{{"a", "1"}, {"b", "2"}}
	got := base.With(Tags{{"b", "3"}, {"c", "4"}})
	want := Tags{{"a", "1"}, {"b", "3"}, {"c", "4"}}
	if !reflect.DeepEqual(got, want) || base[1].Value != "2" {
		t.Fatalf("With = %v (base %v)", got, base)
	}
}
