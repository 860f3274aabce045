package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/oidc"
)

// TestOIDCStore is the contract of oidc.Store: the OpenID Connect
// provider's requests, tokens, grants, signing keys and back-channel
// logout queue. Every single use (a code, a refresh token, a key's
// generation, a delivery attempt) must hold when instances race.
func TestOIDCStore(t *testing.T, open func(t *testing.T) oidc.Store) {
	ctx := context.Background()
	now := instant(time.Now())

	t.Run("RequestRoundTripAndComplete", func(t *testing.T) {
		s := open(t)
		want := oidc.Request{Key: "rq1", ClientID: "portail", RedirectURI: "https://p.example/cb", State: "st", Nonce: "n",
			Scopes: []string{"openid", "profile"}, ResponseType: "code", ResponseMode: "query", CodeChallenge: "abc",
			CodeChallengeMethod: "S256", Prompt: []string{"login"}, MaxAge: 0, LoginHint: "P003",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateRequest(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Request(ctx, "rq1")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Request = %+v, %v; want %+v", got, err, want)
		}
		if err := s.CompleteRequest(ctx, "rq1", "p003", "sub-p003", "fr", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		want.AccountID, want.Subject, want.Locale, want.AuthTime, want.ExpiresAt, want.Done = "p003", "sub-p003", "fr", now, now.Add(time.Minute), true
		if got, err := s.Request(ctx, "rq1"); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("after CompleteRequest = %+v, %v; want %+v", got, err, want)
		}
		if err := s.DeleteRequest(ctx, "rq1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Request(ctx, "rq1"); !errors.Is(err, oidc.ErrNotFound) {
			t.Errorf("after DeleteRequest: %v", err)
		}
		if err := s.CompleteRequest(ctx, "nope", "p003", "sub-p003", "fr", now, now); !errors.Is(err, oidc.ErrNotFound) {
			t.Errorf("CompleteRequest(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("CodeAndRefreshClaimedOnceUnderRace", func(t *testing.T) {
		s := open(t)
		for name, claim := range map[string]func(int) (bool, error){
			"code":    func(int) (bool, error) { return s.ClaimCode(ctx, "rq1", now.Add(time.Hour)) },
			"refresh": func(int) (bool, error) { return s.ClaimRefresh(ctx, "rt1", now.Add(time.Hour)) },
			"logout attempt": func(int) (bool, error) {
				return s.ClaimLogout(ctx, "lo1", 3, now.Add(time.Hour))
			},
		} {
			wins := make([]bool, racers)
			errs := make([]error, racers)
			Race(racers, func(i int) { wins[i], errs[i] = claim(i) })
			n := 0
			for i := range wins {
				if errs[i] != nil {
					t.Fatalf("%s: %v", name, errs[i])
				}
				if wins[i] {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s claimed %d times, want once", name, n)
			}
		}
		// Another attempt of the same logout is another claim.
		if ok, err := s.ClaimLogout(ctx, "lo1", 4, now.Add(time.Hour)); err != nil || !ok {
			t.Errorf("attempt 4 = %v, %v", ok, err)
		}
	})

	t.Run("TokensAndTheirRevocation", func(t *testing.T) {
		s := open(t)
		tok := func(key, family, accountID string) oidc.Token {
			return oidc.Token{Key: key, Kind: oidc.KindAccess, Family: family, ClientID: "portail", AccountID: accountID,
				Subject: "sub-" + accountID, Scopes: []string{"openid"}, Audience: []string{"portail"}, AMR: []string{"pwd"}, AuthTime: now,
				Locale: "fr", ExpiresAt: now.Add(time.Hour)}
		}
		all := []oidc.Token{tok("a1", "f1", "p001"), tok("a2", "f1", "p001"), tok("a3", "f2", "p001"), tok("a4", "f3", "p002")}
		for _, x := range all {
			if err := s.CreateToken(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Token(ctx, "a1"); err != nil || !reflect.DeepEqual(got, all[0]) {
			t.Fatalf("Token = %+v, %v; want %+v", got, err, all[0])
		}
		present := func() string {
			out := ""
			for _, x := range all {
				_, err := s.Token(ctx, x.Key)
				switch {
				case err == nil:
					out += x.Key + " "
				case !errors.Is(err, oidc.ErrNotFound):
					t.Fatal(err)
				}
			}
			return out
		}
		if err := s.RevokeFamily(ctx, "f1", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := present(); got != "a3 a4 " {
			t.Errorf("after RevokeFamily(f1): %q", got)
		}
		for family, want := range map[string]bool{"f1": true, "f2": false} {
			if got, err := s.FamilyRevoked(ctx, family); err != nil || got != want {
				t.Errorf("FamilyRevoked(%s) = %v, %v", family, got, err)
			}
		}
		if err := s.RevokeAccount(ctx, "p001"); err != nil {
			t.Fatal(err)
		}
		if got := present(); got != "a4 " {
			t.Errorf("after RevokeAccount(p001): %q", got)
		}
		if err := s.DeleteToken(ctx, "a4"); err != nil {
			t.Fatal(err)
		}
		if got := present(); got != "" {
			t.Errorf("after DeleteToken: %q", got)
		}
	})

	t.Run("GrantTakenOnce", func(t *testing.T) {
		s := open(t)
		for range 2 { // recording again extends the one grant
			if err := s.RecordGrant(ctx, "p001", "cdi", now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordGrant(ctx, "p001", "old", now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false} {
			if got, err := s.TakeGrant(ctx, "p001", "cdi"); err != nil || got != want {
				t.Errorf("TakeGrant #%d = %v, %v; want %v", i+1, got, err, want)
			}
		}
		for _, c := range []string{"old", "portail"} {
			if got, err := s.TakeGrant(ctx, "p001", c); err != nil || got {
				t.Errorf("TakeGrant(%s) = %v, %v; want false (expired, or never granted)", c, got, err)
			}
		}
	})

	t.Run("KeyGenerationInsertedOnceUnderRace", func(t *testing.T) {
		s := open(t)
		errs := make([]error, racers)
		Race(racers, func(i int) {
			errs[i] = s.InsertKey(ctx, oidc.SealedKey{ID: "sig-7", KeyID: fmt.Sprint("k", i), Algorithm: "RS256",
				Sealed: []byte{byte(i), 1, 2}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatalf("two inserts of one generation succeeded (%d and %d)", winner, i)
			case !errors.Is(err, oidc.ErrExists):
				t.Fatalf("InsertKey: %v, want ErrExists", err)
			}
		}
		want := oidc.SealedKey{ID: "sig-7", KeyID: fmt.Sprint("k", winner), Algorithm: "RS256", Sealed: []byte{byte(winner), 1, 2},
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if got, err := s.Key(ctx, "sig-7"); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Key = %+v, %v; want the winner's %+v", got, err, want)
		}
		if _, err := s.Key(ctx, "sig-8"); !errors.Is(err, oidc.ErrNotFound) {
			t.Errorf("Key(unknown) = %v", err)
		}
	})

	t.Run("LogoutQueue", func(t *testing.T) {
		s := open(t)
		for i, at := range []time.Duration{-2 * time.Minute, -time.Minute, time.Minute} {
			l := oidc.Logout{ID: fmt.Sprint("lo", i), ClientID: "cdi", AccountID: "p001", NextAttemptAt: now.Add(at), ExpiresAt: now.Add(time.Hour)}
			if err := s.QueueLogout(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(limit int) []string {
			due, err := s.DueLogouts(ctx, now, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, l := range due {
				out = append(out, l.ID)
			}
			return out
		}
		if got := ids(10); !reflect.DeepEqual(got, []string{"lo0", "lo1"}) {
			t.Errorf("due = %v, want the two past, oldest first", got)
		}
		if got := ids(1); !reflect.DeepEqual(got, []string{"lo0"}) {
			t.Errorf("due with limit 1 = %v", got)
		}
		if err := s.RescheduleLogout(ctx, "lo0", 1, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteLogout(ctx, "lo1"); err != nil {
			t.Fatal(err)
		}
		if got := ids(10); len(got) != 0 {
			t.Errorf("due after reschedule and delete = %v", got)
		}
		due, err := s.DueLogouts(ctx, now.Add(2*time.Minute), 10)
		if err != nil || len(due) != 2 || due[0].Attempts+due[1].Attempts != 1 {
			t.Errorf("due later = %+v, %v", due, err)
		}
	})
}
