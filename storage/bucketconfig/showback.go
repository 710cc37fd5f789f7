package bucketconfig

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/rbac/secret"
)

// Clone returns a deep copy of c: changing the copy's sections or tags does
// not change c.
func (c Config) Clone() Config {
	out := Config{Vendor: c.Vendor}
	if c.S3 != nil {
		s := *c.S3
		s.Tags = cloneTags(s.Tags)
		out.S3 = &s
	}
	if c.S3Compatible != nil {
		s := *c.S3Compatible
		s.Tags = cloneTags(s.Tags)
		out.S3Compatible = &s
	}
	if c.GCS != nil {
		s := *c.GCS
		s.Tags = cloneTags(s.Tags)
		out.GCS = &s
	}
	if c.Azure != nil {
		s := *c.Azure
		s.Tags = cloneTags(s.Tags)
		out.Azure = &s
	}
	if c.File != nil {
		s := *c.File
		s.Tags = cloneTags(s.Tags)
		out.File = &s
	}
	if c.Memory != nil {
		s := *c.Memory
		s.Tags = cloneTags(s.Tags)
		out.Memory = &s
	}
	return out
}

func cloneTags(t Tags) Tags {
	if t == nil {
		return nil
	}
	return append(Tags(nil), t...)
}

// secrets returns pointers to every secret field of c with its field path.
// It is the single list of secret fields: Masked, Merge and MarshalStored all
// walk it (a test fills every field by reflection to keep it complete).
func (c *Config) secrets() []namedSecret {
	var out []namedSecret
	if c.S3 != nil {
		out = append(out, namedSecret{"s3", "secret_access_key", &c.S3.SecretAccessKey})
	}
	if c.S3Compatible != nil {
		out = append(out, namedSecret{"s3_compatible", "secret_access_key", &c.S3Compatible.SecretAccessKey})
	}
	if c.GCS != nil {
		out = append(out, namedSecret{"gcs", "service_key", &c.GCS.ServiceKey})
	}
	if c.Azure != nil {
		out = append(out, namedSecret{"azure", "connection_string", &c.Azure.ConnectionString})
	}
	return out
}

type namedSecret struct {
	section, field string
	s              *secret.String
}

// Masked returns the show-back form of c: a copy whose secrets hold their
// masked value (the first characters, then X), ready to fill a form. Submitted
// back unchanged, the masked values keep the stored secrets (see Merge).
// Marshalling c with encoding/json or YAML gives the same masked values.
func (c Config) Masked() Config {
	out := c.Clone()
	for _, ns := range out.secrets() {
		*ns.s = secret.String(ns.s.Mask())
	}
	return out
}

// Merge returns the configuration to store after an operator submitted a form
// that was filled with c.Masked(): submitted, except that a secret left
// masked (or empty) keeps c's secret (Secret.Keep) when the vendor is
// unchanged.
//
// When the endpoint a secret is sent to changed (S3-compatible or GCS
// endpoint), a masked or empty secret is not kept: Merge returns a
// *FieldError matching ErrMissingField that asks for the secret again, so
// nobody who can edit the form but cannot read the secret can redirect it to
// a server of their own. Merge does not validate; call Validate on the result.
func (c Config) Merge(submitted Config) (Config, error) {
	out := submitted.Clone()
	if out.Vendor != c.Vendor {
		return out, nil
	}
	stored := c.Clone()
	old := map[string]*secret.String{}
	for _, ns := range stored.secrets() {
		old[ns.section] = ns.s
	}
	endpointMoved := map[string]bool{
		"s3_compatible": c.S3Compatible != nil && out.S3Compatible != nil && c.S3Compatible.Endpoint != out.S3Compatible.Endpoint,
		"gcs":           c.GCS != nil && out.GCS != nil && c.GCS.Endpoint != out.GCS.Endpoint,
	}
	var errs []error
	for _, ns := range out.secrets() {
		prev, ok := old[ns.section]
		if !ok {
			continue
		}
		kept := prev.Keep(*ns.s)
		if kept.Equal(*prev) && !prev.IsZero() && endpointMoved[ns.section] && !ns.s.Equal(*prev) {
			errs = append(errs, missing(ns.section+"."+ns.field, "the endpoint changed: enter the secret again"))
			continue
		}
		*ns.s = kept
	}
	return out, errors.Join(errs...)
}

// storedFormat is the version of the durable encoding.
const storedFormat = 1

// ErrNotStoredForm is returned by UnmarshalStored for data that is not the
// durable encoding (for example a show-back JSON whose secrets are masked).
var ErrNotStoredForm = errors.New("storage: not a stored bucket configuration (its secrets may be masked)")

// MarshalStored returns the durable encoding of c: JSON like the show-back
// form, plus "stored_format", with the real secret values. It is meant only
// for configuration stores (a database row, an encrypted file); never send it
// to a client or a log. UnmarshalStored reads it back.
func (c Config) MarshalStored() ([]byte, error) {
	shown, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("storage: marshal configuration: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(shown, &m); err != nil {
		return nil, fmt.Errorf("storage: marshal configuration: %w", err)
	}
	cc := c
	for _, ns := range cc.secrets() {
		sec, ok := m[ns.section].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("storage: marshal configuration: section %q missing", ns.section)
		}
		sec[ns.field] = ns.s.Reveal()
	}
	m["stored_format"] = storedFormat
	return json.Marshal(m)
}

// UnmarshalStored reads the durable encoding written by MarshalStored into c.
// Data without the stored marker fails with ErrNotStoredForm, so a masked
// show-back form is never taken for real secrets.
func (c *Config) UnmarshalStored(data []byte) error {
	var v struct {
		Format *int `json:"stored_format"`
		Config
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("storage: unmarshal stored configuration: %w", err)
	}
	if v.Format == nil {
		return ErrNotStoredForm
	}
	if *v.Format != storedFormat {
		return fmt.Errorf("storage: stored configuration format %d is not supported (want %d)", *v.Format, storedFormat)
	}
	*c = v.Config
	return nil
}
