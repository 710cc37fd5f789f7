package rbac

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
)

// KeyPrefix starts every generated API key secret.
const KeyPrefix = "vgk_"

// Limits of a secret chosen for Bootstrap (CheckSecretStrength). Generated
// secrets are KeyPrefix and 43 base64url characters (256 random bits).
const (
	MinSecretLen = 20
	MaxSecretLen = 256
	// MinSecretBits is the least estimated strength of a chosen secret.
	MinSecretBits = 96
	// MinSecretDistinct is the fewest distinct characters a chosen secret
	// may have ("aaaa…" and "abab…" are refused whatever their length).
	MinSecretDistinct = 10
)

// APIKey is an API key as stored and listed (seed 002 "API"): everything but
// the secret, which only KeyStore.Create returns, once.
type APIKey struct {
	// ID is generated on create.
	ID string `json:"id"`
	// Name is unique among the keys of the same owner (scope, service
	// provider, account).
	Name string `json:"name"`
	// ServiceType is what the key may be used for; it decides the key's
	// privileges (KeyStoreOptions.ServiceTypes).
	ServiceType string `json:"service_type"`
	// Scope, ServiceProvider and Account say whose key it is, as for
	// members; an Account key reaches only its account.
	Scope           Scope  `json:"scope"`
	ServiceProvider string `json:"service_provider,omitempty"`
	Account         string `json:"account_sid,omitempty"`
	// CreatorEmail is the email of the member who created the key.
	CreatorEmail string `json:"creator_email"`
	// CreatedAt is set on create.
	CreatedAt time.Time `json:"created_at"`
	// ValidUntil is when the key expires; zero for never.
	ValidUntil time.Time `json:"valid_until,omitzero"`
	// RevokedAt is when the key was revoked; zero while it is not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Origin is "" for a key made by Create (its secret generated), and
	// the origin given to Bootstrap (for example "config") for a key whose
	// secret a trusted configuration chose. Bootstrap owns the keys of its
	// origin: it deletes those its list no longer holds.
	Origin string `json:"origin,omitempty"`
	// Masked is the form shown after creation: the first and last four
	// characters of the secret around a fixed run of X.
	Masked string `json:"api_key"`
	// Hash is HMAC-SHA256(pepper, secret); the only trace of the secret.
	Hash [32]byte `json:"-"`
}

// Owner returns the key's owner.
func (k *APIKey) Owner() Owner {
	return Owner{Scope: k.Scope, ServiceProvider: k.ServiceProvider, Account: k.Account}
}

// Owner names whose keys a listing is about.
type Owner struct {
	Scope           Scope
	ServiceProvider string
	Account         string
}

// KeyFilter selects keys for FindKeys; its zero fields select everything.
type KeyFilter struct {
	// Owner, when not nil, keeps the keys of that owner only.
	Owner *Owner
	// Origin, when not "", keeps the keys of that Bootstrap origin only.
	Origin string
	// CreatorEmail, when not "", keeps the keys that member created
	// (lowercase, as stored).
	CreatorEmail string
}

// Match reports whether k passes the filter (for drivers that filter in
// Go).
func (f *KeyFilter) Match(k *APIKey) bool {
	return (f.Owner == nil || k.Owner() == *f.Owner) &&
		(f.Origin == "" || k.Origin == f.Origin) &&
		(f.CreatorEmail == "" || k.CreatorEmail == f.CreatorEmail)
}

// NewAPIKey is what KeyStore.Create needs.
type NewAPIKey struct {
	// Name is required; unique for the owner.
	Name string
	// ServiceType is required; one of KeyStoreOptions.ServiceTypes.
	ServiceType string
	// Scope, ServiceProvider and Account: the owner. Scope 0 means
	// ScopeAccount.
	Scope           Scope
	ServiceProvider string
	Account         string
	// CreatorEmail records who created the key. Default: the creator
	// principal's Subject when it is an email. Required in the end.
	CreatorEmail string
	// ValidUntil is the expiry; zero means KeyStoreOptions.DefaultValidity
	// from now (never, by default). It must lie in the future.
	ValidUntil time.Time
}

// BootstrapKey is one key of a trusted configuration, whose secret the
// configuration chose (see KeyStore.Bootstrap).
type BootstrapKey struct {
	NewAPIKey
	// Secret is the chosen secret; it must pass CheckSecretStrength.
	Secret secret.String
}

// CreatedKey is the result of KeyStore.Create: the stored key and its secret,
// which is not available anywhere afterwards.
type CreatedKey struct {
	APIKey
	// Secret is the plain secret; show it to the operator now.
	Secret secret.String `json:"secret"`
}

// KeyDriver is what a backend implements to hold API keys. A driver must be
// safe for concurrent use, copy what it is given and returns, and enforce
// atomically: names unique per owner (Taken("api_key", "name", ...)) and
// hashes unique (Taken("api_key", "secret", "")). Missing keys are
// ErrNotFound (wrapped). rbac/storetest holds the conformance suite.
type KeyDriver interface {
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns the key with this hash; it is on the path of every
	// authenticated request, so it should be an indexed lookup.
	KeyByHash(ctx context.Context, hash [32]byte) (*APIKey, error)
	GetKey(ctx context.Context, id string) (*APIKey, error)
	// ListKeys returns the keys the filter selects (KeyFilter.Match),
	// ordered by owner (scope, service provider, account) and name.
	ListKeys(ctx context.Context, f KeyFilter) ([]*APIKey, error)
	// RevokeKey sets RevokedAt (once; revoking again keeps the first time).
	RevokeKey(ctx context.Context, id string, at time.Time) error
	DeleteKey(ctx context.Context, id string) error
	Close() error
}

// DefaultServiceTypes returns the service types a KeyStore accepts by default
// and the privileges each grants, within the key's own account (seed 002
// "Typical Use Cases"). Integrators pass their own map in KeyStoreOptions.
//
//	insights     read interactions and usage, read interaction metrics (the Insights API)
//	sip          read phone resources (SIP authentication)
//	webhook      read interactions (webhook authorization)
//	integrations full access to integrations, read and update the organization
//	api          every action on every entity, no advanced privilege (custom API clients)
func DefaultServiceTypes() map[string]Privileges {
	var insights, sip, webhook, integrations Privileges
	insights.Grant(EntityInteraction, ActionRead).Grant(EntityUsage, ActionRead)
	insights.Advanced = ReadInteractionMetrics
	sip.Grant(EntityPhone, ActionRead)
	webhook.Grant(EntityInteraction, ActionRead)
	integrations.Grant(EntityOrganization, ActionRead|ActionUpdate)
	integrations.Advanced = FullAccessIntegrations
	api := AllPrivileges()
	api.Advanced = 0
	return map[string]Privileges{"insights": insights, "sip": sip, "webhook": webhook, "integrations": integrations, "api": api}
}

// KeyStoreOptions configures a KeyStore. The zero value (or nil) works.
type KeyStoreOptions struct {
	// Pepper keys the HMAC of stored secrets. Keep it outside the database
	// (configuration, secrets manager): a stolen database then cannot be
	// used to test guesses offline. Changing it invalidates every key.
	// Default: a fixed, public key (secrets are still never stored).
	Pepper secret.String
	// ServiceTypes are the accepted service types and the privileges each
	// grants. Default: DefaultServiceTypes().
	ServiceTypes map[string]Privileges
	// DefaultValidity is the lifetime of a key created without ValidUntil.
	// Default: 0, no expiry.
	DefaultValidity time.Duration
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// Logger receives debug records (key IDs, never secrets). Default:
	// discard.
	Logger *slog.Logger
}

// KeyStore holds API keys over a KeyDriver. It is safe for concurrent use.
type KeyStore struct {
	d        KeyDriver
	pepper   []byte
	macs     sync.Pool // of *macState: HMAC-SHA256 keyed with pepper
	services map[string]Privileges
	validity time.Duration
	now      func() time.Time
	log      *slog.Logger
	closed   atomic.Bool
}

// NewKeyStore returns a KeyStore over d. opts may be nil.
func NewKeyStore(d KeyDriver, opts *KeyStoreOptions) *KeyStore {
	var o KeyStoreOptions
	if opts != nil {
		o = *opts
	}
	if o.ServiceTypes == nil {
		o.ServiceTypes = DefaultServiceTypes()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	pepper := []byte(o.Pepper.Reveal())
	if len(pepper) == 0 {
		pepper = []byte("voicegw api key v1")
	}
	services := make(map[string]Privileges, len(o.ServiceTypes))
	for k, v := range o.ServiceTypes {
		services[k] = v
	}
	ks := &KeyStore{d: d, pepper: pepper, services: services, validity: o.DefaultValidity, now: o.Clock, log: o.Logger}
	ks.macs.New = func() any { return &macState{h: hmac.New(sha256.New, ks.pepper), in: make([]byte, 0, MaxSecretLen)} }
	return ks
}

// Close closes the driver; later calls fail with ErrClosed.
func (s *KeyStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.d.Close()
}

func (s *KeyStore) ok() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// macState is a pooled HMAC with the buffers hashing a secret needs, so
// that a key check allocates nothing to hash.
type macState struct {
	h   hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// HashSecret returns the stored hash of a secret under this store's pepper.
func (s *KeyStore) HashSecret(secret string) [32]byte {
	m := s.macs.Get().(*macState)
	m.h.Reset()
	m.in = append(m.in[:0], secret...)
	m.h.Write(m.in)
	out := [32]byte(m.h.Sum(m.sum[:0]))
	clear(m.in)
	s.macs.Put(m)
	return out
}

// ServiceTypes returns the accepted service types, sorted.
func (s *KeyStore) ServiceTypes() []string {
	out := make([]string, 0, len(s.services))
	for k := range s.services {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ServiceTypePrivileges returns the privileges a key of service type name
// grants, and false for a service type this store does not accept.
func (s *KeyStore) ServiceTypePrivileges(name string) (Privileges, bool) {
	p, ok := s.services[name]
	return p, ok
}

// MaskSecret returns the form of a secret shown after creation: its first
// and last four characters around eight X (the length is not revealed).
func MaskSecret(secret string) string {
	if len(secret) < 12 {
		return strings.Repeat("X", 8)
	}
	return secret[:4] + strings.Repeat("X", 8) + secret[len(secret)-4:]
}

// CheckSecretStrength applies the rule for secrets a configuration chooses
// (Bootstrap): MinSecretLen to MaxSecretLen printable ASCII characters
// without spaces, at least MinSecretDistinct distinct ones, and an
// estimated strength of at least MinSecretBits bits, estimated as the
// length times log2 of the alphabet the secret draws from (lowercase 26,
// uppercase 26, digits 10, punctuation 32, summed over the classes it
// uses). It refuses the obviously weak; a generated secret (Create, or 32
// random bytes in base64url) is always better. The error, a *FieldError on
// "secret" wrapping ErrWeakSecret, never quotes the secret; positions are
// counted from 1.
func CheckSecretStrength(secret string) error {
	if reason := secretWeakness(secret); reason != "" {
		return &FieldError{Entity: "api_key", Field: "secret", Reason: reason, Err: ErrWeakSecret}
	}
	return nil
}

func secretWeakness(v string) string {
	if len(v) < MinSecretLen || len(v) > MaxSecretLen {
		return fmt.Sprintf("must have %d to %d characters", MinSecretLen, MaxSecretLen)
	}
	var lower, upper, digit, punct bool
	var seen [128]bool
	distinct := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c <= ' ' || c > '~':
			return fmt.Sprintf("character at position %d is not printable ASCII (no spaces)", i+1)
		case 'a' <= c && c <= 'z':
			lower = true
		case 'A' <= c && c <= 'Z':
			upper = true
		case '0' <= c && c <= '9':
			digit = true
		default:
			punct = true
		}
		if !seen[c] {
			seen[c], distinct = true, distinct+1
		}
	}
	if distinct < MinSecretDistinct {
		return fmt.Sprintf("has %d distinct characters, fewer than %d", distinct, MinSecretDistinct)
	}
	alphabet := 0
	for _, c := range []struct {
		used bool
		n    int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {punct, 32}} {
		if c.used {
			alphabet += c.n
		}
	}
	if bits := float64(len(v)) * math.Log2(float64(alphabet)); bits < MinSecretBits {
		return fmt.Sprintf("too weak (about %d bits, at least %d wanted): make it longer or mix letters, digits and punctuation", int(bits), MinSecretBits)
	}
	return ""
}

// prepare normalizes and validates nk as a key to store at now, without
// ID, hash or mask.
func (s *KeyStore) prepare(nk NewAPIKey, creator *Principal, now time.Time, defaultValidity bool) (APIKey, []error) {
	const e = "api_key"
	k := APIKey{
		Name:            strings.TrimSpace(nk.Name),
		ServiceType:     strings.TrimSpace(nk.ServiceType),
		Scope:           nk.Scope,
		ServiceProvider: strings.TrimSpace(nk.ServiceProvider),
		Account:         strings.TrimSpace(nk.Account),
		CreatorEmail:    strings.ToLower(strings.TrimSpace(nk.CreatorEmail)),
		CreatedAt:       now,
		ValidUntil:      nk.ValidUntil.UTC().Truncate(time.Microsecond),
	}
	if k.Scope == 0 {
		k.Scope = ScopeAccount
	}
	if k.CreatorEmail == "" && creator != nil && checkEmail(strings.ToLower(creator.Subject)) == "" {
		k.CreatorEmail = strings.ToLower(creator.Subject)
	}
	if nk.ValidUntil.IsZero() && s.validity > 0 && defaultValidity {
		k.ValidUntil = now.Add(s.validity)
	}
	var errs []error
	if err := checkName(e, "name", k.Name, true); err != nil {
		errs = append(errs, err)
	}
	if _, ok := s.services[k.ServiceType]; !ok {
		errs = append(errs, invalid(e, "service_type", k.ServiceType, "want one of "+strings.Join(s.ServiceTypes(), ", ")))
	}
	errs = append(errs, checkOwner(e, k.Scope, k.ServiceProvider, k.Account)...)
	switch {
	case k.CreatorEmail == "":
		errs = append(errs, invalid(e, "creator_email", "", "required"))
	case checkEmail(k.CreatorEmail) != "":
		errs = append(errs, invalid(e, "creator_email", k.CreatorEmail, checkEmail(k.CreatorEmail)))
	}
	if !k.ValidUntil.IsZero() && !k.ValidUntil.After(now) {
		errs = append(errs, invalid(e, "valid_until", k.ValidUntil.Format(time.RFC3339), "must lie in the future"))
	}
	return k, errs
}

// Create creates an API key with a generated secret (KeyPrefix and 256
// random bits) and returns it with that secret, which is not available
// anywhere afterwards. A caller cannot choose the secret: that happens only
// through Bootstrap, from a trusted configuration. When creator is not nil,
// the key's owner must lie within the creator's reach, its scope must not
// be broader than the creator's, and the privileges of its service type
// must all be held by the creator (a member cannot mint a key that does
// more than the member may): ErrForbidden otherwise, naming the first
// privilege the creator lacks. The creator's Subject is the default
// CreatorEmail. A nil creator is the trusted caller and is not checked.
func (s *KeyStore) Create(ctx context.Context, nk NewAPIKey, creator *Principal) (*CreatedKey, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	k, errs := s.prepare(nk, creator, stamp(s.now), true)
	if err := joinErrs(errs); err != nil {
		return nil, err
	}
	if creator != nil {
		if !creator.Scope.Valid() || creator.Scope < k.Scope || !Reaches(creator, Target{ServiceProvider: k.ServiceProvider, Account: k.Account}) {
			return nil, fmt.Errorf("%w: %s (%s scope) may not create a %s-scope key for service provider %q, account %q",
				ErrForbidden, creator.Subject, creator.Scope, k.Scope, k.ServiceProvider, k.Account)
		}
		if lacking := creator.Privileges.Lacking(s.services[k.ServiceType]); lacking != "" {
			return nil, fmt.Errorf("%w: %s may not create a key of service type %q: it grants %s, which %s does not hold",
				ErrForbidden, creator.Subject, k.ServiceType, lacking, creator.Subject)
		}
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	plain := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	k.ID = newID()
	k.Masked = MaskSecret(plain)
	k.Hash = s.HashSecret(plain)
	if err := s.d.CreateKey(ctx, &k); err != nil {
		// A clash of 256 random bits does not happen; only the name can.
		return nil, fmt.Errorf("create API key %q: %w", k.Name, err)
	}
	s.log.DebugContext(ctx, "rbac: API key created", "id", k.ID, "name", k.Name, "scope", k.Scope.String())
	return &CreatedKey{APIKey: k, Secret: secret.String(plain)}, nil
}

// VerifyKey checks a presented secret and returns the principal of its key:
// its scope and tenant, with the privileges of its service type (none for a
// service type no longer configured); Subject is "key:" and the key's ID
// (Key gives the key itself). It is the one check of a presented key, and
// makes *KeyStore an insights.KeyVerifier. It reads the driver on every
// call (no cache), so a key revoked or deleted by any process sharing the
// store fails on the very next request. Refusals wrap ErrInvalidKey (and
// ErrUnknownKey, ErrKeyRevoked or ErrKeyExpired) and never contain the
// secret; any other error means the store could not answer.
func (s *KeyStore) VerifyKey(ctx context.Context, key secret.String) (*Principal, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	presented := key.Reveal()
	if presented == "" || len(presented) > MaxSecretLen {
		return nil, ErrUnknownKey
	}
	k, err := s.d.KeyByHash(ctx, s.HashSecret(presented))
	if err != nil {
		if isNotFound(err) {
			return nil, ErrUnknownKey
		}
		return nil, fmt.Errorf("rbac: API key lookup: %w", err)
	}
	now := s.now()
	switch {
	case !k.RevokedAt.IsZero():
		return nil, fmt.Errorf("%w: key %s (%q) revoked at %s", ErrKeyRevoked, k.ID, k.Name, k.RevokedAt.Format(time.RFC3339))
	case !k.ValidUntil.IsZero() && !now.Before(k.ValidUntil):
		return nil, fmt.Errorf("%w: key %s (%q) expired at %s", ErrKeyExpired, k.ID, k.Name, k.ValidUntil.Format(time.RFC3339))
	}
	return &Principal{
		Subject:         "key:" + k.ID,
		Scope:           k.Scope,
		ServiceProvider: k.ServiceProvider,
		Account:         k.Account,
		Privileges:      s.services[k.ServiceType],
	}, nil
}

// Key returns the key with that ID (revoked and expired keys included).
func (s *KeyStore) Key(ctx context.Context, id string) (*APIKey, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	k, err := s.d.GetKey(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("API key %q: %w", id, err)
	}
	return k, nil
}

// Keys lists an owner's keys by name, masked (they never hold the secret).
func (s *KeyStore) Keys(ctx context.Context, owner Owner) ([]*APIKey, error) {
	return s.FindKeys(ctx, KeyFilter{Owner: &owner})
}

// FindKeys lists the keys the filter selects, by owner and name: every
// key of a Bootstrap origin, or every key a member created, across owners.
func (s *KeyStore) FindKeys(ctx context.Context, f KeyFilter) ([]*APIKey, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	if f.Owner != nil {
		o := *f.Owner
		f.Owner = &o
	}
	f.CreatorEmail = strings.ToLower(strings.TrimSpace(f.CreatorEmail))
	return s.d.ListKeys(ctx, f)
}

// Revoke revokes a key: every later VerifyKey of its secret fails with
// ErrKeyRevoked. The key stays listed, for the record.
func (s *KeyStore) Revoke(ctx context.Context, id string) error {
	if err := s.ok(); err != nil {
		return err
	}
	if err := s.d.RevokeKey(ctx, id, stamp(s.now)); err != nil {
		return fmt.Errorf("revoke API key %q: %w", id, err)
	}
	s.log.DebugContext(ctx, "rbac: API key revoked", "id", id)
	return nil
}

// Delete removes a key permanently (seed 002 "Delete"): the next request with
// it fails with ErrUnknownKey, and it cannot be recovered.
func (s *KeyStore) Delete(ctx context.Context, id string) error {
	if err := s.ok(); err != nil {
		return err
	}
	if err := s.d.DeleteKey(ctx, id); err != nil {
		return fmt.Errorf("delete API key %q: %w", id, err)
	}
	s.log.DebugContext(ctx, "rbac: API key deleted", "id", id)
	return nil
}
