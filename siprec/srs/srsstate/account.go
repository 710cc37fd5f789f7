package srsstate

import (
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// AccountConfig is one account as a configuration file declares it: its
// YAML tags are the keys of an item of a file's accounts list (the
// reference gateway's gateway.example.yaml says what each means, and
// which settings only the admin API sets). Declared makes it a
// DeclaredAccount.
type AccountConfig struct {
	Name             string                        `yaml:"name"`
	SIPRealm         string                        `yaml:"sip_realm"`
	Unit             tenancy.Unit                  `yaml:"unit"`
	MaxUnits         int                           `yaml:"max_units"`
	LicensedSessions int                           `yaml:"licensed_sessions"`
	SIP              tenancy.SIPAccess             `yaml:"sip"` // users, allowlist, require_tls, require_srtp
	Recording        RecordingConfig               `yaml:"recording"`
	Applications     []tenancy.DeclaredApplication `yaml:"applications"`
	// SIPRECApplication and DeviceCallsApplication name declared
	// applications; by default the first application handles SIPREC calls.
	SIPRECApplication      string             `yaml:"siprec_application"`
	DeviceCallsApplication string             `yaml:"device_calls_application"`
	SessionWebhook         string             `yaml:"session_webhook"`
	RegistrationWebhook    string             `yaml:"registration_webhook"`
	QueueEventWebhook      string             `yaml:"queue_event_webhook"`
	WebhookSecret          secret.String      `yaml:"webhook_secret"`
	CallAttachedData       []tenancy.CADField `yaml:"call_attached_data"`
	APIKeys                []DeclaredKey      `yaml:"api_keys"`

	// Given lists the keys the file gives below the account
	// (YAMLDoc.Given's item for it): the settings a start brings to the
	// file's values; the others keep their stored values. Never read from
	// or written to the file itself.
	Given []string `yaml:"-"`
}

// RecordingConfig is an account's recording configuration in a file.
type RecordingConfig struct {
	Enabled        bool         `yaml:"enabled"`
	Format         string       `yaml:"format"` // wav or mp3, any case
	RecordAllCalls bool         `yaml:"record_all_calls"`
	Bucket         BucketConfig `yaml:"bucket"`
}

// BucketConfig is a bucket given by vendor fields (storage's
// configuration) or by a gocloud.dev URL.
type BucketConfig struct {
	URL                 string `yaml:"url"`
	bucketconfig.Config `yaml:",inline"`
}

// Declared returns the account's declaration, named path in errors
// ("accounts[0]"): its values (the recording format lowercased), its API
// keys, the application "siprec" when it declares none (SIPREC calls'
// objects are named after an application), and as Set the settings of
// Given (those of applications, API keys and the *_application keys are
// declared apart).
func (a *AccountConfig) Declared(path string) DeclaredAccount {
	d := tenancy.DeclaredAccount{Path: path, SIPRECApplication: a.SIPRECApplication, DeviceCallsApplication: a.DeviceCallsApplication,
		Account: tenancy.Account{
			Name: a.Name, SIPRealm: a.SIPRealm, Unit: a.Unit, MaxUnits: a.MaxUnits, LicensedSessions: a.LicensedSessions,
			SessionWebhook: a.SessionWebhook, RegistrationWebhook: a.RegistrationWebhook, QueueEventWebhook: a.QueueEventWebhook,
			WebhookSecret: a.WebhookSecret, CallAttachedData: a.CallAttachedData,
			Recording: tenancy.RecordingConfig{
				Enabled:        a.Recording.Enabled,
				Format:         tenancy.AudioFormat(strings.ToLower(a.Recording.Format)),
				RecordAllCalls: a.Recording.RecordAllCalls,
				BucketURL:      a.Recording.Bucket.URL,
				Bucket:         a.Recording.Bucket.Config,
			},
			SIP: a.SIP,
		}, Applications: a.Applications}
	if len(d.Applications) == 0 {
		d.Applications = []tenancy.DeclaredApplication{{Name: "siprec"}}
	}
	for _, k := range a.Given {
		if !strings.HasPrefix(k, "applications") && !strings.HasPrefix(k, "api_keys") && !strings.HasSuffix(k, "_application") {
			d.Set = append(d.Set, k)
		}
	}
	return DeclaredAccount{DeclaredAccount: d, APIKeys: a.APIKeys}
}

// FileErrors returns the problems of a declaration made of AccountConfigs
// (the tenancy.FieldErrors of Validate or Apply) as YAMLErrors named by
// the file's keys: "recording.bucket.url" where tenancy says
// "recording.bucket_url", "missing" where it says "required", and the
// value quoted before the reason unless the key names a secret
// (IsSecretPath).
func FileErrors(err error) []*YAMLError {
	var out []*YAMLError
	for _, fe := range tenancy.FieldErrors(err) {
		key := strings.Replace(fe.Field, "recording.bucket_url", "recording.bucket.url", 1)
		msg := strings.ReplaceAll(fe.Reason, "bucket_url", "bucket.url")
		if rest, ok := strings.CutPrefix(msg, "required"); ok {
			msg = "missing" + rest
		}
		if fe.Value != "" && !IsSecretPath(key) {
			msg = strconv.Quote(fe.Value) + ": " + msg
		}
		out = append(out, &YAMLError{Path: key, Reason: msg})
	}
	return out
}
