package insights_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/insightstest"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac"
)

type principalKey struct{}

// HandlerConfig.Authenticate: a principal the program authenticated (here a
// context value, as the console sets for its signed-in member) is authorized
// as a key's would be, without a key and without counting against the
// source; nil falls through to the key; an error answers 503.
func TestHandlerAuthenticate(t *testing.T) {
	idx := memindex.NewIndex()
	t.Cleanup(func() { _ = idx.Close() })
	if err := idx.Put(context.Background(), insightstest.Fixtures()...); err != nil {
		t.Fatal(err)
	}
	failed := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 1})
	h := insights.NewHandler(insights.HandlerConfig{
		Index: idx, Keys: insights.StaticKeys{"key-1": insightstest.Account}, FailedKeys: failed,
		Authenticate: func(r *http.Request) (*rbac.Principal, error) {
			switch v := r.Context().Value(principalKey{}).(type) {
			case *rbac.Principal:
				return v, nil
			case error:
				return nil, v
			}
			return nil, nil
		},
	})
	var reader, nothing rbac.Privileges
	reader.Grant(rbac.EntityInteraction, rbac.ActionRead)
	ann := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: insightstest.Account, Privileges: reader}
	const search = "/insights/sessions?from_date=2020-09-01&to_date=2020-10-30&page_size=100"
	call := func(ctx any, key, account string) (int, *insights.Result) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, search, nil)
		if ctx != nil {
			req = req.WithContext(context.WithValue(req.Context(), principalKey{}, ctx))
		}
		if key != "" {
			req.Header.Set(insights.KeyHeader, key)
		}
		if account != "" {
			req.Header.Set(insights.AccountHeader, account)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var res insights.Result
		if w.Code == http.StatusOK {
			if err := res.UnmarshalJSON(w.Body.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		return w.Code, &res
	}
	for range 3 { // more than the limiter's burst: authenticated requests are not counted
		code, res := call(ann, "", "")
		if code != http.StatusOK || res.Total == 0 {
			t.Fatalf("as Ann: %d, %d hits", code, res.Total)
		}
		for _, hit := range res.Hits {
			var s insights.Session
			if err := json.Unmarshal(hit, &s); err != nil || s.AccountID != insightstest.Account {
				t.Fatalf("Ann sees a session of account %q (%v)", s.AccountID, err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		ctx     any
		key     string
		account string
		want    int
	}{
		{"another account named", ann, "", insightstest.OtherAccount, http.StatusForbidden},
		{"without the privilege", &rbac.Principal{Subject: "x", Scope: rbac.ScopeAccount, Account: insightstest.Account, Privileges: nothing}, "", "", http.StatusForbidden},
		{"a principal without an account", &rbac.Principal{Subject: "x", Scope: rbac.ScopeAccount, Privileges: reader}, "", "", http.StatusUnauthorized},
		{"authenticator down", errors.New("session store down"), "", "", http.StatusServiceUnavailable},
		{"no principal falls through to the key", nil, "key-1", "", http.StatusOK},
		{"no principal and no key", nil, "", "", http.StatusUnauthorized},
	} {
		if code, _ := call(tc.ctx, tc.key, tc.account); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
}
