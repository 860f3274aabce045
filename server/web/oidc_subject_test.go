package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// TestOIDCSubject: sub is the account's permanent, random subject id. It
// survives a renamed identifier, no two accounts share one, and an
// account stored before subject ids existed (as the seeded ones are) gets
// exactly one however many first uses race for it.
func TestOIDCSubject(t *testing.T) {
	s := newOIDCServer(t)
	ctx := context.Background()
	portal := s.portal()
	subject := func(id string) string {
		t.Helper()
		a, err := s.st.Accounts().GetAccount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.Subject
	}

	t.Run("RenamedIdentifierKeepsIt", func(t *testing.T) {
		if got := subject("p003"); got != "" {
			t.Fatalf("the seeded account already has a subject %q: the test would not see its first use", got)
		}
		code, verifier := s.browser(t).code(portal, "P003")
		_, before := exchange(t, portal, code, verifier)
		if before.Subject != subject("p003") || strings.Contains(strings.ToLower(before.Subject), "p003") {
			t.Fatalf("sub %q, the account's subject id %q", before.Subject, subject("p003"))
		}
		// The school's next file spells the identifier otherwise.
		im := account.NewImporter(s.st.Accounts(), s.hasher, 1, time.Now)
		sum, err := im.Import(ctx, []account.ImportRow{{Line: 2, Identifier: "p003", Email: "leo.martin@example.fr",
			FirstName: "Léo", LastName: "Martin", Population: "parents", Password: annePassword}})
		if err != nil || sum.Updated != 1 {
			t.Fatalf("re-import: %+v, %v", sum, err)
		}
		code, verifier = s.browser(t).code(portal, "p003")
		tok, after := exchange(t, portal, code, verifier)
		var c claims
		_ = after.Claims(&c)
		if after.Subject != before.Subject || c.PreferredUsername != "p003" {
			t.Errorf("after the rename: sub %q (was %q), preferred_username %q", after.Subject, before.Subject, c.PreferredUsername)
		}
		info, err := s.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil || info.Subject != before.Subject {
			t.Errorf("userinfo sub = %v, %v; want %q", info, err, before.Subject)
		}
	})

	t.Run("NewAccountsHaveTheirOwnFromCreation", func(t *testing.T) {
		im := account.NewImporter(s.st.Accounts(), s.hasher, 4, time.Now)
		var rows []account.ImportRow
		for i := range 12 {
			rows = append(rows, account.ImportRow{Line: i + 2, Identifier: fmt.Sprintf("N%03d", i), FirstName: "Nina",
				LastName: "Nouvel", Population: "parents", Password: annePassword})
		}
		if _, err := im.Import(ctx, rows); err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{subject("p003"): "p003"}
		for _, r := range rows {
			id := account.NormaliseIdentifier(r.Identifier)
			sub := subject(id)
			if sub == "" {
				t.Errorf("%s was imported without a subject id", id)
			}
			if other, dup := seen[sub]; dup {
				t.Errorf("%s and %s share the sub %q", other, id, sub)
			}
			seen[sub] = id
		}
	})

	t.Run("ConcurrentFirstUsesGiveOneValue", func(t *testing.T) {
		// P001 signs in to Sésame alone (no application yet), then eight
		// applications' requests reach the signed-in browser at once: each
		// is a first use of an account that has no subject id.
		if got := subject("p001"); got != "" {
			t.Fatalf("p001 already has a subject %q", got)
		}
		p := s.browser(t)
		resp, _ := p.follow(s.base + paths.Login)
		p.signIn(resp, "P001")
		const n = 8
		codes, verifiers, errs := make([]string, n), make([]string, n), make([]error, n)
		for i := range n {
			verifiers[i] = oauth2.GenerateVerifier()
		}
		storetest.Race(n, func(i int) {
			codes[i], errs[i] = passThrough(p.client, s.base, portal.cfg.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifiers[i])))
		})
		want := subject("p001")
		if want == "" {
			t.Fatal("no subject id stored")
		}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			if _, id := exchange(t, portal, codes[i], verifiers[i]); id.Subject != want {
				t.Errorf("request %d: sub %q, the account keeps %q", i, id.Subject, want)
			}
		}
		if want == subject("p003") {
			t.Error("p001 and p003 share a sub")
		}
	})
}

// passThrough follows a signed-in browser's authorization request to the
// application's redirect and returns the code, without calling t (it runs
// on other goroutines).
func passThrough(client *http.Client, base, u string) (string, error) {
	for range 10 {
		resp, err := client.Get(u)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return "", fmt.Errorf("stopped at %d on %s", resp.StatusCode, u)
		}
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(loc.String(), base) {
			if c := loc.Query().Get("code"); c != "" {
				return c, nil
			}
			return "", fmt.Errorf("sent back without a code: %s", loc)
		}
		u = loc.String()
	}
	return "", errors.New("too many redirects")
}
