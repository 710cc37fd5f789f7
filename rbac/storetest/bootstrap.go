package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// testBootstrap: keys whose secret a configuration chose are made, kept,
// replaced and deleted by Bootstrap so that the store holds exactly the
// configured keys of the origin; removing a key from the list makes its
// secret fail at once; keys of other origins are never touched; a bad list
// changes nothing and its errors name the key without quoting secrets; a
// secret of another origin's key is refused without naming that key.
func testBootstrap(t *testing.T, open func(*testing.T, *rbac.KeyStoreOptions) (*rbac.KeyStore, *clock)) {
	ctx := context.Background()
	const creator = "config@gateway.example.com"
	key := func(account, name, plain string) rbac.BootstrapKey {
		return rbac.BootstrapKey{NewAPIKey: rbac.NewAPIKey{Name: name, ServiceType: "insights", Account: account, CreatorEmail: creator},
			Secret: secret.String(plain)}
	}
	const (
		s1 = "config-secret-one-Aa0123456789"
		s2 = "config-secret-two-Bb0123456789"
		s3 = "config-secret-three-Cc01234567"
		s4 = "config-secret-four-Dd012345678"
	)
	works := func(t *testing.T, s *rbac.KeyStore, plain, account string) {
		t.Helper()
		p, err := s.VerifyKey(ctx, secret.String(plain))
		if err != nil || p.Account != account {
			t.Fatalf("a configured key does not work: %+v, %v", p, err)
		}
	}
	fails := func(t *testing.T, s *rbac.KeyStore, plain string) {
		t.Helper()
		if _, err := s.VerifyKey(ctx, secret.String(plain)); !errors.Is(err, rbac.ErrUnknownKey) {
			t.Fatalf("a key no longer configured still answers: %v", err)
		}
	}
	names := func(keys []*rbac.APIKey) []string {
		var out []string
		for _, k := range keys {
			out = append(out, k.Account+"/"+k.Name)
		}
		slices.Sort(out)
		return out
	}
	wantDone := func(t *testing.T, res *rbac.BootstrapResult, err error, created, kept, replaced, deleted []string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what      string
			got, want []string
		}{{"created", names(res.Created), created}, {"kept", names(res.Kept), kept},
			{"replaced", names(res.Replaced), replaced}, {"deleted", names(res.Deleted), deleted}} {
			if !slices.Equal(c.got, c.want) {
				t.Fatalf("%s %q, want %q", c.what, c.got, c.want)
			}
		}
	}

	t.Run("Lifecycle", func(t *testing.T) {
		s, c := open(t, &rbac.KeyStoreOptions{DefaultValidity: time.Hour})
		// A key made through the API, and one of another origin: never touched.
		api, err := s.Create(ctx, rbac.NewAPIKey{Name: "api", ServiceType: "insights", Account: "acct-a", CreatorEmail: "ann@example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Bootstrap(ctx, "other", []rbac.BootstrapKey{key("acct-a", "other", s4)}); err != nil {
			t.Fatal(err)
		}

		list := []rbac.BootstrapKey{key("acct-a", "one", s1), key("acct-a", "two", s2), key("acct-b", "three", s3)}
		res, err := s.Bootstrap(ctx, "config", list)
		wantDone(t, res, err, []string{"acct-a/one", "acct-a/two", "acct-b/three"}, nil, nil, nil)
		works(t, s, s1, "acct-a")
		works(t, s, s3, "acct-b")
		for _, k := range res.Created {
			if k.Origin != "config" || !k.ValidUntil.IsZero() || k.CreatorEmail != creator {
				t.Fatalf("bootstrap key %+v: want origin config, no expiry (DefaultValidity is for keys made by Create)", k)
			}
		}
		ids := map[string]string{}
		for _, k := range res.Created {
			ids[k.Name] = k.ID
		}

		c.Add(time.Minute)
		res, err = s.Bootstrap(ctx, "config", list) // the next start, nothing changed
		wantDone(t, res, err, nil, []string{"acct-a/one", "acct-a/two", "acct-b/three"}, nil, nil)
		for _, k := range res.Kept {
			if ids[k.Name] != k.ID {
				t.Fatalf("key %q was made again (ID %s, was %s)", k.Name, k.ID, ids[k.Name])
			}
		}

		// Key one gets a new secret, key two leaves the file, key three is
		// renamed (its secret stays).
		list = []rbac.BootstrapKey{key("acct-a", "one", s2+"x"), key("acct-b", "renamed", s3)}
		res, err = s.Bootstrap(ctx, "config", list)
		wantDone(t, res, err, []string{"acct-b/renamed"}, nil, []string{"acct-a/one"}, []string{"acct-a/two", "acct-b/three"})
		fails(t, s, s1)
		fails(t, s, s2)
		works(t, s, s2+"x", "acct-a")
		works(t, s, s3, "acct-b")
		if k, err := s.Key(ctx, api.ID); err != nil || k.Origin != "" {
			t.Fatalf("a key made by Create was touched: %+v, %v", k, err)
		}
		works(t, s, api.Secret.Reveal(), "acct-a")
		works(t, s, s4, "acct-a")

		// A revoked configured key is made again: the configuration is the
		// truth for its keys.
		got, err := s.FindKeys(ctx, rbac.KeyFilter{Origin: "config"})
		if err != nil || len(got) != 2 {
			t.Fatalf("FindKeys(origin config) = %d keys, %v", len(got), err)
		}
		if err := s.Revoke(ctx, got[0].ID); err != nil {
			t.Fatal(err)
		}
		res, err = s.Bootstrap(ctx, "config", list)
		wantDone(t, res, err, nil, []string{got[1].Account + "/" + got[1].Name}, []string{got[0].Account + "/" + got[0].Name}, nil)
		works(t, s, s2+"x", "acct-a")

		// Empty list: every configured key goes.
		res, err = s.Bootstrap(ctx, "config", nil)
		wantDone(t, res, err, nil, nil, nil, []string{"acct-a/one", "acct-b/renamed"})
		fails(t, s, s3)
		if mine, _ := s.FindKeys(ctx, rbac.KeyFilter{CreatorEmail: "ANN@example.com"}); len(mine) != 1 || mine[0].ID != api.ID {
			t.Fatalf("FindKeys(creator) = %+v", mine)
		}
	})

	t.Run("RefusalsChangeNothing", func(t *testing.T) {
		s, _ := open(t, nil)
		if _, err := s.Bootstrap(ctx, "config", []rbac.BootstrapKey{key("acct-a", "one", s1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Bootstrap(ctx, "other", []rbac.BootstrapKey{key("acct-z", "theirs", s4)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, rbac.NewAPIKey{Name: "api-made", ServiceType: "insights", Account: "acct-a", CreatorEmail: "ann@example.com"}, nil); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			list  []rbac.BootstrapKey
			index int
			field string
			want  error
		}{
			{"weak secret", []rbac.BootstrapKey{key("acct-a", "one", s1), key("acct-a", "two", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")}, 1, "secret", rbac.ErrWeakSecret},
			{"short secret", []rbac.BootstrapKey{key("acct-a", "two", "Sh0rt-secret")}, 0, "secret", rbac.ErrWeakSecret},
			{"no service type", []rbac.BootstrapKey{{NewAPIKey: rbac.NewAPIKey{Name: "x", Account: "acct-a", CreatorEmail: creator}, Secret: s2}}, 0, "service_type", rbac.ErrInvalid},
			{"name twice", []rbac.BootstrapKey{key("acct-a", "two", s2), key("acct-a", "two", s3)}, 1, "name", rbac.ErrInvalid},
			{"secret twice", []rbac.BootstrapKey{key("acct-a", "two", s2), key("acct-b", "three", s2)}, 1, "secret", rbac.ErrInvalid},
			// Another origin's secret, another tenant's: refused, naming
			// neither that key nor its account.
			{"secret of another origin's key", []rbac.BootstrapKey{key("acct-a", "two", s2), key("acct-a", "mine", s4)}, 1, "secret", rbac.ErrExists},
			{"name of a key made by Create", []rbac.BootstrapKey{key("acct-a", "api-made", s2)}, 0, "name", rbac.ErrExists},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, _ := s.FindKeys(ctx, rbac.KeyFilter{})
				_, err := s.Bootstrap(ctx, "config", tc.list)
				kes := rbac.BootstrapKeyErrors(err)
				if len(kes) != 1 || kes[0].Index != tc.index || !errors.Is(err, tc.want) {
					t.Fatalf("Bootstrap = %v; want one BootstrapKeyError at index %d wrapping %v", err, tc.index, tc.want)
				}
				wantField(t, err, tc.want, tc.field)
				for _, k := range tc.list {
					if strings.Contains(err.Error(), k.Secret.Reveal()) {
						t.Fatalf("the error quotes a secret: %v", err)
					}
				}
				if strings.Contains(err.Error(), "theirs") || strings.Contains(err.Error(), "acct-z") {
					t.Fatalf("the error names another tenant's key: %v", err)
				}
				after, _ := s.FindKeys(ctx, rbac.KeyFilter{})
				if !slices.Equal(names(before), names(after)) {
					t.Fatalf("a refused list changed the keys: %q, then %q", names(before), names(after))
				}
				works(t, s, s1, "acct-a")
			})
		}
		if _, err := s.Bootstrap(ctx, " ", nil); !errors.Is(err, rbac.ErrInvalid) {
			t.Fatalf("Bootstrap without an origin = %v", err)
		}
	})
}
