package storetest

import (
	"testing"

	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// FullAccount returns an account with every field set, for round-trip tests.
func FullAccount() *tenancy.Account {
	return &tenancy.Account{
		Name:                "Full Account",
		ServiceProvider:     "sp-1",
		Unit:                tenancy.UnitMinutes,
		MaxUnits:            5000,
		LicensedSessions:    40,
		SIPRealm:            "sip.full.example.com",
		WebhookSecret:       "whsec_initial_secret_0123456789",
		RegistrationWebhook: "https://hooks.example.com/register?x=1",
		QueueEventWebhook:   "http://hooks.example.com/queue",
		SessionWebhook:      "https://hooks.example.com/sessions",
		SIP: tenancy.SIPAccess{
			Users: []tenancy.SIPUser{
				{Username: "sbc-1", Password: "first-sip-password-1"},
				{Username: "pbx.main", Password: "second-sip-password-2"},
			},
			Allowlist: []string{"203.0.113.7", "198.51.100.*", "192.0.2.0/24", "10.1.1.10-10.1.1.20", "2001:db8::/32"},
		},
		Recording: tenancy.RecordingConfig{
			Enabled:        true,
			Format:         tenancy.FormatMP3,
			RecordAllCalls: true,
			Bucket: bucketconfig.Config{
				Vendor: bucketconfig.VendorS3,
				S3: &bucketconfig.S3{
					Bucket:          "recordings-full",
					Region:          "eu-central-1",
					AccessKeyID:     "AKIAIOSFODNN7EXAMPLE",
					SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
					Tags:            bucketconfig.Tags{{Name: "team", Value: "voice"}, {Name: "env", Value: "prod"}},
				},
			},
		},
		CallAttachedData: []tenancy.CADField{
			{Name: "tenant_field_org_id", Value: "Interaction.organizationId"},
			{Name: "tenant_field_status", Value: "Interaction.status"},
		},
	}
}

// CheckSIPSecrets checks that the SIP users of in came back from the store
// as the digests of their passwords in got's digest realm, and without a
// password (stores never keep one).
func CheckSIPSecrets(t *testing.T, in, got *tenancy.Account) {
	t.Helper()
	if len(got.SIP.Users) != len(in.SIP.Users) {
		t.Fatalf("SIP users: got %d, want %d", len(got.SIP.Users), len(in.SIP.Users))
	}
	for i, u := range in.SIP.Users {
		g := got.SIP.Users[i]
		if g.Username != u.Username || g.Password != "" || !g.HA1.Equal(tenancy.NewDigestHA1(u.Username, got.DigestRealm(), u.Password)) {
			t.Fatalf("SIP user %d (%q) did not come back from the store as the digests of its password in %q", i, u.Username, got.DigestRealm())
		}
	}
}

// CheckRecordingSecrets checks that the bucket credentials of in survived a
// round trip through the store in plain form.
func CheckRecordingSecrets(t *testing.T, in, got *tenancy.Account) {
	t.Helper()
	want := in.Recording.Bucket.S3.SecretAccessKey
	if got.Recording.Bucket.S3 == nil || got.Recording.Bucket.S3.SecretAccessKey.Reveal() != want.Reveal() {
		t.Fatal("the bucket's secret access key did not survive the store in plain form")
	}
}
