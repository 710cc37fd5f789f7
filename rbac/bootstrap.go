package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/voicegw/voicegw/internal/errwalk"
)

// BootstrapResult says what Bootstrap did, key by key (none holds a
// secret).
type BootstrapResult struct {
	// Created are the keys that were not stored before.
	Created []*APIKey
	// Kept are the keys stored already with the same secret and settings.
	Kept []*APIKey
	// Replaced are the keys stored before under the same owner and name,
	// deleted and made again because their secret or settings changed
	// (or they were revoked).
	Replaced []*APIKey
	// Deleted are the keys of the origin that the list no longer holds:
	// they stopped working.
	Deleted []*APIKey
}

// BootstrapKeyError is Bootstrap's refusal of one key of its list.
type BootstrapKeyError struct {
	// Index is the key's place in the list.
	Index int
	// Name is the key's name.
	Name string
	// Err holds the reasons: FieldErrors (wrapping ErrInvalid,
	// ErrWeakSecret or ErrExists).
	Err error
}

// Error implements error.
func (e *BootstrapKeyError) Error() string {
	return fmt.Sprintf("rbac: bootstrap key %d (%q): %v", e.Index, e.Name, e.Err)
}

// Unwrap returns Err.
func (e *BootstrapKeyError) Unwrap() error { return e.Err }

// BootstrapKeyErrors returns every *BootstrapKeyError inside err, in order.
func BootstrapKeyErrors(err error) []*BootstrapKeyError { return errwalk.All[*BootstrapKeyError](err) }

// Bootstrap is the one way to store keys whose secret the caller chose: it
// makes the keys of origin (a label such as "config": where these keys come
// from) exactly keys, for a gateway that takes its keys from a
// configuration file at every start. Each key's secret must pass
// CheckSecretStrength. A key already stored under the same owner and name
// with the same secret and settings is kept as is (KeyStoreOptions's
// DefaultValidity does not apply: a configured key lives as long as its
// ValidUntil says); one whose secret or
// settings changed (or that was revoked: the configuration is the truth
// for its keys) is replaced; a missing one is created with Origin = origin.
// Then every other key of origin is deleted, so removing a key from the
// configuration file makes its very next request fail. Keys of other
// origins (made by Create) are never touched.
//
// Nothing is changed unless every key is valid: the refusals are joined
// *BootstrapKeyErrors (BootstrapKeyErrors lists them) naming the key's
// index and wrapping the FieldErrors. A secret already used by a key of
// another origin is refused (ErrExists on "secret", without naming that
// key: only the trusted configuration can choose secrets). Bootstrap is not
// atomic across keys; after a failure (a store outage) calling it again
// with the same list finishes the job.
func (s *KeyStore) Bootstrap(ctx context.Context, origin string, keys []BootstrapKey) (*BootstrapResult, error) {
	if err := s.ok(); err != nil {
		return nil, err
	}
	origin = strings.TrimSpace(origin)
	if origin == "" || len(origin) > maxNameLen || hasControl(origin) {
		return nil, invalid("api_key", "origin", origin, "required: 1 to 128 bytes, no control characters")
	}
	now := stamp(s.now)
	type want struct {
		key  APIKey
		hash [32]byte
	}
	wants := make([]want, len(keys))
	var errs []error
	names := map[string]int{}
	secrets := map[[32]byte]int{}
	for i, bk := range keys {
		k, kerrs := s.prepare(bk.NewAPIKey, nil, now, false)
		if err := CheckSecretStrength(bk.Secret.Reveal()); err != nil {
			kerrs = append(kerrs, err)
		}
		h := s.HashSecret(bk.Secret.Reveal())
		if j, dup := names[keyIdentity(&k)]; dup {
			kerrs = append(kerrs, invalid("api_key", "name", k.Name, fmt.Sprintf("given twice for the same owner (keys %d and %d)", j, i)))
		}
		if j, dup := secrets[h]; dup && bk.Secret != "" {
			kerrs = append(kerrs, &FieldError{Entity: "api_key", Field: "secret", Reason: fmt.Sprintf("the same as the secret of key %d", j), Err: ErrInvalid})
		}
		names[keyIdentity(&k)], secrets[h] = i, i
		if len(kerrs) > 0 {
			errs = append(errs, &BootstrapKeyError{Index: i, Name: k.Name, Err: errors.Join(kerrs...)})
			continue
		}
		k.Origin = origin
		k.Hash = h
		k.Masked = MaskSecret(bk.Secret.Reveal())
		wants[i] = want{key: k, hash: h}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	have, err := s.d.ListKeys(ctx, KeyFilter{Origin: origin})
	if err != nil {
		return nil, fmt.Errorf("rbac: bootstrap %q: %w", origin, err)
	}
	res := &BootstrapResult{}
	keep := map[string]bool{}     // IDs of origin's keys that stay
	replaced := map[string]bool{} // IDs of origin's keys made again
	var create []int
	for i := range wants {
		w := &wants[i]
		old, err := s.d.KeyByHash(ctx, w.hash)
		switch {
		case err == nil && old.Origin == origin && keyIdentity(old) == keyIdentity(&w.key) && sameSettings(old, &w.key):
			keep[old.ID] = true
			res.Kept = append(res.Kept, old)
			continue
		case err == nil && old.Origin != origin:
			return nil, &BootstrapKeyError{Index: i, Name: w.key.Name, Err: Taken("api_key", "secret", "")}
		case err != nil && !isNotFound(err):
			return nil, fmt.Errorf("rbac: bootstrap %q: %w", origin, err)
		}
		o := w.key.Owner()
		same, err := s.d.ListKeys(ctx, KeyFilter{Owner: &o})
		if err != nil {
			return nil, fmt.Errorf("rbac: bootstrap %q: %w", origin, err)
		}
		for _, old := range same {
			if old.Name != w.key.Name {
				continue
			}
			if old.Origin != origin {
				return nil, &BootstrapKeyError{Index: i, Name: w.key.Name, Err: Taken("api_key", "name", w.key.Name)}
			}
			replaced[old.ID] = true
			res.Replaced = append(res.Replaced, old)
		}
		create = append(create, i)
	}
	// Delete what goes before creating: a key renamed in the configuration
	// keeps its secret, which must be free again.
	for _, old := range have {
		if keep[old.ID] {
			continue
		}
		if err := s.d.DeleteKey(ctx, old.ID); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("rbac: bootstrap %q: delete key %q: %w", origin, old.Name, err)
		}
		if !replaced[old.ID] {
			res.Deleted = append(res.Deleted, old)
			s.log.InfoContext(ctx, "rbac: API key no longer in its configuration, deleted", "origin", origin, "id", old.ID, "name", old.Name)
		}
	}
	for _, i := range create {
		k := wants[i].key
		k.ID = newID()
		if err := s.d.CreateKey(ctx, &k); err != nil {
			if errors.Is(err, ErrExists) {
				return nil, &BootstrapKeyError{Index: i, Name: k.Name, Err: err}
			}
			return nil, fmt.Errorf("rbac: bootstrap %q: create key %q: %w", origin, k.Name, err)
		}
		if !isReplacement(res.Replaced, &k) {
			res.Created = append(res.Created, &k)
		}
	}
	return res, nil
}

// keyIdentity is what makes a key unique besides its secret: owner and name.
func keyIdentity(k *APIKey) string {
	return fmt.Sprintf("%d\x00%s\x00%s\x00%s", k.Scope, k.ServiceProvider, k.Account, k.Name)
}

// sameSettings reports whether a stored key has the settings of a wanted
// one and still works (not revoked).
func sameSettings(old, k *APIKey) bool {
	return old.ServiceType == k.ServiceType && old.CreatorEmail == k.CreatorEmail &&
		old.ValidUntil.Equal(k.ValidUntil) && old.RevokedAt.IsZero()
}

func isReplacement(replaced []*APIKey, k *APIKey) bool {
	for _, old := range replaced {
		if keyIdentity(old) == keyIdentity(k) {
			return true
		}
	}
	return false
}
