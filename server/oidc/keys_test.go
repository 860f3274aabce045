package oidc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/oidc"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

const rotation = 10 * time.Hour

// newProvider is a provider on st whose clock the test moves; keys rotate
// every 10 h and a retired one stays 1 h 05 (an ID token's hour and 5 min
// of skew).
func newProvider(t *testing.T, st *store.Store, secret string, now func() time.Time) *oidc.Provider {
	t.Helper()
	base, _ := url.Parse("https://sesame.example")
	// signingKey signs a logout token for p001, whose sub the provider reads.
	err := st.Accounts().CreateAccount(context.Background(), account.Account{ID: "p001", Identifier: "P001", Population: "parents"})
	if err != nil && !errors.Is(err, account.ErrConflict) {
		t.Fatal(err)
	}
	p, err := oidc.New(oidc.Deps{Store: st.OIDC(), Accounts: st.Accounts(), Clients: clients.NewRegistry(nil, clients.ForwardAuth{}, nil),
		Secret: []byte(secret), Issuer: base, Now: now}, oidc.Config{KeyRotation: rotation, IDTokenTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// published is the key ids of the provider's JWKS.
func published(t *testing.T, p *oidc.Provider) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, paths.OIDCKeys, nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("JWKS: %d %v", rec.Code, err)
	}
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("the JWKS publishes a private key")
		}
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

// signingKey is the key id the provider signs with now.
func signingKey(t *testing.T, p *oidc.Provider) string {
	t.Helper()
	tok, err := p.LogoutToken(context.Background(), "cdi", "p001")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

// TestKeyRotation: a key signs for its generation, is published an
// overlap before it starts signing and stays published an overlap after;
// instances sharing a store, and a restarted one, use the same keys.
func TestKeyRotation(t *testing.T) {
	st := storetest.New(t)
	start := time.Unix(0, 0).Add(rotation * 5000) // the start of a generation
	var mu sync.Mutex
	clock := start.Add(2 * time.Hour)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(d time.Duration) { mu.Lock(); clock = start.Add(d); mu.Unlock() }
	p := newProvider(t, st, "secret-one", now)

	first := signingKey(t, p)
	if got := published(t, p); !slices.Equal(got, []string{first}) {
		t.Fatalf("mid-generation JWKS = %v, want [%s]", got, first)
	}
	// Another instance, started at the same time, signs with the same key.
	if got := signingKey(t, newProvider(t, st, "secret-one", now)); got != first {
		t.Errorf("second instance signs with %s, want %s", got, first)
	}

	set(rotation - 30*time.Minute) // the next key is published ahead
	ahead := published(t, p)
	if len(ahead) != 2 || signingKey(t, p) != first {
		t.Fatalf("before rotation: JWKS %v, signing %s", ahead, signingKey(t, p))
	}
	next := ahead[0]
	if next == first {
		next = ahead[1]
	}

	set(rotation + 30*time.Minute) // rotated; the old key stays for what it signed
	if got := signingKey(t, p); got != next {
		t.Errorf("after rotation signs with %s, want %s", got, next)
	}
	if got := published(t, p); len(got) != 2 || !slices.Contains(got, first) {
		t.Errorf("during the overlap JWKS = %v, want %s and %s", got, first, next)
	}
	// A restarted instance finds the same keys in the store.
	restarted := newProvider(t, st, "secret-one", now)
	if got := signingKey(t, restarted); got != next {
		t.Errorf("restarted instance signs with %s, want %s", got, next)
	}

	set(rotation + 2*time.Hour) // the overlap is over
	if got := published(t, p); !slices.Equal(got, []string{next}) {
		t.Errorf("after the overlap JWKS = %v, want [%s]", got, next)
	}

	// Keys are sealed with SESAME_SECRET: another secret cannot use them.
	other := newProvider(t, st, "secret-two", now)
	if _, err := other.LogoutToken(context.Background(), "cdi", "p001"); err == nil {
		t.Error("a provider with another secret opened the stored key")
	}
}
