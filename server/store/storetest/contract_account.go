package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
)

// fullAccount is an account with every field set, so that a round trip
// that drops or mixes up a field shows.
func fullAccount(id, email string) account.Account {
	now := instant(time.Now())
	return account.Account{
		ID: id, Identifier: "ID-" + id, Subject: "subject-" + id, Email: email, FirstName: "Anne", LastName: "Durand",
		Population: "parents", Status: account.StatusActive, PasswordHash: "hash-" + id, PasswordSetBy: account.SetByImport,
		PasswordChangedAt: now.Add(-time.Hour), Phone: "+33612345678", Newsletter: true, NewsletterAt: now.Add(-2 * time.Hour),
		EmailSetBy: account.SetByImport, PendingEmail: "pending@example.fr", PendingEmailID: "pending-id",
		CharterVersion: "2026-1", CharterAt: now.Add(-3 * time.Hour), Directory: true, DirectoryAt: now.Add(-4 * time.Hour),
		RedirectTo: "redirect@example.fr", RedirectCopy: true, Mailbox: "anne.durand@school.example",
		ActivatedAt: now.Add(-5 * time.Hour), ProvisionalUntil: now.Add(48 * time.Hour), CreatedAt: now.Add(-6 * time.Hour), UpdatedAt: now.Add(-7 * time.Hour),
	}
}

func mustCreate(t *testing.T, s account.Store, a account.Account) {
	t.Helper()
	if err := s.CreateAccount(context.Background(), a); err != nil {
		t.Fatalf("CreateAccount(%s): %v", a.ID, err)
	}
}

func mustGet(t *testing.T, s account.Looker, id string) account.Account {
	t.Helper()
	a, err := s.GetAccount(context.Background(), id)
	if err != nil {
		t.Fatalf("GetAccount(%s): %v", id, err)
	}
	return a
}

func ids(as []account.Account) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// TestAccountStore is the contract of account.Store, and so of the
// account.Looker and account.Patcher it is made of: what sign-in, the
// import, recovery and activation expect of accounts.
func TestAccountStore(t *testing.T, open func(t *testing.T) account.Store) {
	ctx := context.Background()

	t.Run("CreateThenGetReturnsEveryField", func(t *testing.T) {
		s := open(t)
		want := fullAccount("p001", "anne@example.fr")
		mustCreate(t, s, want)
		if got := mustGet(t, s, "p001"); !reflect.DeepEqual(got, want) {
			t.Errorf("GetAccount =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("ChildrenFollowTheirGuardians", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, fullAccount("g1", "parent1@example.fr"))
		mustCreate(t, s, fullAccount("g2", "parent2@example.fr"))
		child := fullAccount("e1", "")
		child.Guardians = []string{"g1", "g2"}
		mustCreate(t, s, child)
		other := fullAccount("e2", "")
		other.Guardians = []string{"g1"}
		mustCreate(t, s, other)
		ids := func(id string) []string {
			t.Helper()
			cs, err := s.ChildrenOf(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return out
		}
		if got := ids("g1"); !reflect.DeepEqual(got, []string{"e1", "e2"}) {
			t.Errorf("ChildrenOf(g1) = %v, want [e1 e2]", got)
		}
		// A new list of guardians moves the child: g1 loses it, g3 gains it.
		if err := s.PatchAccount(ctx, "e1", account.Patch{Guardians: account.Set([]string{"g2", "g3"})}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := ids("g1"); !reflect.DeepEqual(got, []string{"e2"}) {
			t.Errorf("after the move, ChildrenOf(g1) = %v, want [e2]", got)
		}
		if got := ids("g3"); !reflect.DeepEqual(got, []string{"e1"}) {
			t.Errorf("after the move, ChildrenOf(g3) = %v, want [e1]", got)
		}
		if got := ids("nobody"); len(got) != 0 {
			t.Errorf("ChildrenOf(nobody) = %v", got)
		}
	})

	t.Run("GetUnknownIsErrNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.GetAccount(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("GetAccount(unknown): err = %v, want account.ErrNotFound", err)
		}
	})

	t.Run("CreateDuplicateIsErrConflict", func(t *testing.T) {
		s := open(t)
		first := fullAccount("p001", "anne@example.fr")
		mustCreate(t, s, first)
		second := first
		second.FirstName = "Usurper"
		if err := s.CreateAccount(ctx, second); !errors.Is(err, account.ErrConflict) {
			t.Errorf("second CreateAccount: err = %v, want account.ErrConflict", err)
		}
		if got := mustGet(t, s, "p001"); got.FirstName != "Anne" {
			t.Errorf("the duplicate overwrote the account: first name %q", got.FirstName)
		}
	})

	t.Run("ConcurrentCreatesOneWins", func(t *testing.T) {
		s := open(t)
		errs := make([]error, racers)
		Race(racers, func(i int) {
			a := fullAccount("p001", "")
			a.FirstName = fmt.Sprint("racer-", i)
			errs[i] = s.CreateAccount(ctx, a)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				winner = i
			case !errors.Is(err, account.ErrConflict):
				t.Errorf("racer %d: err = %v, want nil or account.ErrConflict", i, err)
			}
		}
		if n := count(errs); n != 1 {
			t.Fatalf("%d of %d concurrent creates of one identifier succeeded, want exactly 1", n, racers)
		}
		if got := mustGet(t, s, "p001"); got.FirstName != fmt.Sprint("racer-", winner) {
			t.Errorf("stored %q, but racer-%d won", got.FirstName, winner)
		}
	})

	t.Run("PatchWritesOnlyItsFields", func(t *testing.T) {
		at := instant(time.Now())
		tests := []struct {
			name  string
			patch account.Patch
			apply func(*account.Account)
		}{
			{"first name", account.Patch{FirstName: account.Set("Annie")}, func(a *account.Account) { a.FirstName = "Annie" }},
			{"status", account.Patch{Status: account.Set(account.StatusPending)}, func(a *account.Account) { a.Status = account.StatusPending }},
			{"password", account.Patch{PasswordHash: account.Set("new"), PasswordSetBy: account.Set(account.SetByUser), PasswordChangedAt: account.Set(at)},
				func(a *account.Account) {
					a.PasswordHash, a.PasswordSetBy, a.PasswordChangedAt = "new", account.SetByUser, at
				}},
			{"emptied phone", account.Patch{Phone: account.Set("")}, func(a *account.Account) { a.Phone = "" }},
			{"false newsletter", account.Patch{Newsletter: account.Set(false), NewsletterAt: account.Set(at)},
				func(a *account.Account) { a.Newsletter, a.NewsletterAt = false, at }},
			{"activation", account.Patch{CharterVersion: account.Set("2027-1"), Directory: account.Set(false), RedirectCopy: account.Set(false), Mailbox: account.Set("a.d@school.example"), ActivatedAt: account.Set(at)},
				func(a *account.Account) {
					a.CharterVersion, a.Directory, a.RedirectCopy, a.Mailbox, a.ActivatedAt = "2027-1", false, false, "a.d@school.example", at
				}},
			{"nothing", account.Patch{}, func(*account.Account) {}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				want := fullAccount("p001", "anne@example.fr")
				mustCreate(t, s, want)
				if err := s.PatchAccount(ctx, "p001", tt.patch, at); err != nil {
					t.Fatalf("PatchAccount: %v", err)
				}
				tt.apply(&want)
				want.UpdatedAt = at
				if got := mustGet(t, s, "p001"); !reflect.DeepEqual(got, want) {
					t.Errorf("after the patch:\n%+v\nwant\n%+v", got, want)
				}
			})
		}
	})

	t.Run("PatchUnknownIsErrNotFound", func(t *testing.T) {
		s := open(t)
		err := s.PatchAccount(ctx, "nobody", account.Patch{FirstName: account.Set("x")}, time.Now())
		if !errors.Is(err, account.ErrNotFound) {
			t.Errorf("PatchAccount(unknown): err = %v, want account.ErrNotFound", err)
		}
		if _, err := s.GetAccount(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("a patch of an unknown account created it: %v", err)
		}
	})

	t.Run("PatchConditionOnWhoSetThePassword", func(t *testing.T) {
		tests := []struct {
			name    string
			stored  string // who set the stored password
			ifSetBy string
			wantErr error
		}{
			{"import replaces its own password", account.SetByImport, account.SetByImport, nil},
			{"import leaves a chosen password", account.SetByUser, account.SetByImport, account.ErrConflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				a := fullAccount("p001", "")
				a.PasswordSetBy = tt.stored
				mustCreate(t, s, a)
				err := s.PatchAccount(ctx, "p001", account.Patch{PasswordHash: account.Set("replaced"), IfPasswordSetBy: account.Set(tt.ifSetBy)}, time.Now())
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("PatchAccount: err = %v, want %v", err, tt.wantErr)
				}
				replaced := mustGet(t, s, "p001").PasswordHash == "replaced"
				if replaced != (tt.wantErr == nil) {
					t.Errorf("password replaced = %v, want %v", replaced, tt.wantErr == nil)
				}
			})
		}
	})

	// Two writes of different fields landing together (a profile save
	// and a password reset) must both stay: a store that rewrites the
	// whole document it read loses one.
	t.Run("ConcurrentPatchesOfOtherFieldsAreAllKept", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, fullAccount("p001", ""))
		fields := []struct {
			name string
			set  func(v string) account.Patch
			get  func(a account.Account) string
		}{
			{"identifier", func(v string) account.Patch { return account.Patch{Identifier: &v} }, func(a account.Account) string { return a.Identifier }},
			{"firstName", func(v string) account.Patch { return account.Patch{FirstName: &v} }, func(a account.Account) string { return a.FirstName }},
			{"lastName", func(v string) account.Patch { return account.Patch{LastName: &v} }, func(a account.Account) string { return a.LastName }},
			{"population", func(v string) account.Patch { return account.Patch{Population: &v} }, func(a account.Account) string { return a.Population }},
			{"passwordHash", func(v string) account.Patch { return account.Patch{PasswordHash: &v} }, func(a account.Account) string { return a.PasswordHash }},
			{"phone", func(v string) account.Patch { return account.Patch{Phone: &v} }, func(a account.Account) string { return a.Phone }},
			{"emailSetBy", func(v string) account.Patch { return account.Patch{EmailSetBy: &v} }, func(a account.Account) string { return a.EmailSetBy }},
			{"pendingEmailId", func(v string) account.Patch { return account.Patch{PendingEmailID: &v} }, func(a account.Account) string { return a.PendingEmailID }},
			{"charterVersion", func(v string) account.Patch { return account.Patch{CharterVersion: &v} }, func(a account.Account) string { return a.CharterVersion }},
			{"redirectTo", func(v string) account.Patch { return account.Patch{RedirectTo: &v} }, func(a account.Account) string { return a.RedirectTo }},
			{"mailbox", func(v string) account.Patch { return account.Patch{Mailbox: &v} }, func(a account.Account) string { return a.Mailbox }},
		}
		for round := range 5 {
			errs := make([]error, len(fields))
			Race(len(fields), func(i int) {
				errs[i] = s.PatchAccount(ctx, "p001", fields[i].set(fmt.Sprint(fields[i].name, "-", round)), time.Now())
			})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, patch of %s: %v", round, fields[i].name, err)
				}
			}
			got := mustGet(t, s, "p001")
			var lost []string
			for _, f := range fields {
				if f.get(got) != fmt.Sprint(f.name, "-", round) {
					lost = append(lost, f.name)
				}
			}
			if len(lost) > 0 {
				t.Fatalf("round %d: %d concurrent patches of different fields, the writes of %v were lost", round, len(fields), lost)
			}
		}
	})

	t.Run("AccountsByEmail", func(t *testing.T) {
		s := open(t)
		for _, a := range []account.Account{fullAccount("p002", "Parent@Example.fr"), fullAccount("p001", "parent@example.fr"), fullAccount("p003", "other@example.fr"), fullAccount("p004", "")} {
			mustCreate(t, s, a)
		}
		tests := []struct {
			email string
			want  []string
		}{
			{"parent@example.fr", []string{"p001", "p002"}},
			{" PARENT@example.FR ", []string{"p001", "p002"}},
			{"other@example.fr", []string{"p003"}},
			{"nobody@example.fr", []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.email, func(t *testing.T) {
				got, err := s.AccountsByEmail(ctx, tt.email)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids(got), tt.want) {
					t.Errorf("AccountsByEmail(%q) = %v, want %v (ordered by id)", tt.email, ids(got), tt.want)
				}
			})
		}
		// The accounts come whole, as GetAccount returns them.
		if got, _ := s.AccountsByEmail(ctx, "parent@example.fr"); len(got) > 0 && !reflect.DeepEqual(got[0], mustGet(t, s, "p001")) {
			t.Errorf("AccountsByEmail returned\n%+v\nGetAccount returns\n%+v", got[0], mustGet(t, s, "p001"))
		}
	})

	t.Run("AccountsByEmailAfterAnAddressChange", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, fullAccount("p001", "parent@example.fr"))
		mustCreate(t, s, fullAccount("p002", "parent@example.fr"))
		steps := []struct {
			name  string
			id    string
			email string
			want  map[string][]string
		}{
			{"p002 moves", "p002", "Paul@Example.fr", map[string][]string{"parent@example.fr": {"p001"}, "paul@example.fr": {"p002"}}},
			{"p002 comes back", "p002", "parent@example.fr", map[string][]string{"parent@example.fr": {"p001", "p002"}, "paul@example.fr": {}}},
			{"p001 drops its address", "p001", "", map[string][]string{"parent@example.fr": {"p002"}}},
		}
		for _, st := range steps {
			if err := s.PatchAccount(ctx, st.id, account.Patch{Email: account.Set(st.email)}, time.Now()); err != nil {
				t.Fatalf("%s: PatchAccount: %v", st.name, err)
			}
			if got := mustGet(t, s, st.id).Email; got != st.email {
				t.Errorf("%s: stored address %q, want %q", st.name, got, st.email)
			}
			for email, want := range st.want {
				got, err := s.AccountsByEmail(ctx, email)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids(got), want) {
					t.Errorf("%s: AccountsByEmail(%s) = %v, want %v", st.name, email, ids(got), want)
				}
			}
		}
	})

	// A parent's children imported by parallel workers must all be found
	// by the parent's address.
	t.Run("ConcurrentCreatesSharingAnAddressAreAllFound", func(t *testing.T) {
		s := open(t)
		errs := make([]error, racers)
		Race(racers, func(i int) {
			errs[i] = s.CreateAccount(ctx, fullAccount(fmt.Sprintf("c%02d", i), "parent@example.fr"))
		})
		if n := count(errs); n != racers {
			t.Fatalf("%d of %d creates failed: %v", racers-n, racers, errors.Join(errs...))
		}
		got, err := s.AccountsByEmail(ctx, "parent@example.fr")
		if err != nil || len(got) != racers {
			t.Fatalf("AccountsByEmail found %d of %d accounts (%v)", len(got), racers, err)
		}
	})
}

// ProfileStore is what TestProfileStore needs: account.ProfileStore, and
// CreateAccount to set up its accounts.
type ProfileStore interface {
	account.Store
	account.ProfileStore
}

// TestProfileStore is the contract of account.ProfileStore beyond
// account.Looker and account.Patcher (TestAccountStore): SetPassword, which
// is also what recovery.Accounts adds to account.Looker, and the e-mail
// change links.
func TestProfileStore(t *testing.T, open func(t *testing.T) ProfileStore) {
	ctx := context.Background()

	t.Run("SetPassword", func(t *testing.T) {
		s := open(t)
		a := fullAccount("p001", "anne@example.fr")
		a.Status = account.StatusPending
		mustCreate(t, s, a)
		at := instant(time.Now())
		if err := s.SetPassword(ctx, "p001", "chosen", at); err != nil {
			t.Fatal(err)
		}
		want := a
		want.PasswordHash, want.PasswordSetBy, want.PasswordChangedAt, want.UpdatedAt = "chosen", account.SetByUser, at, at
		want.Status = account.StatusActive
		// A new password voids a pending change of address.
		want.PendingEmail, want.PendingEmailID = "", ""
		if got := mustGet(t, s, "p001"); !reflect.DeepEqual(got, want) {
			t.Errorf("after SetPassword:\n%+v\nwant\n%+v", got, want)
		}
		if err := s.SetPassword(ctx, "nobody", "x", at); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("SetPassword(unknown): err = %v, want account.ErrNotFound", err)
		}
	})

	change := func(id string, expires time.Time) account.EmailChange {
		return account.EmailChange{ID: id, AccountID: "p001", Email: "new@example.fr", Lang: "fr", Cancels: "other-" + id,
			CreatedAt: instant(time.Now()), ExpiresAt: instant(expires)}
	}

	t.Run("EmailChangeIsTakenOnce", func(t *testing.T) {
		s := open(t)
		want := change("link", time.Now().Add(time.Hour))
		if err := s.CreateEmailChange(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.TakeEmailChange(ctx, "link")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("TakeEmailChange = %+v, %v; want %+v", got, err, want)
		}
		if _, err := s.TakeEmailChange(ctx, "link"); !errors.Is(err, account.ErrEmailChangeNotFound) {
			t.Errorf("second TakeEmailChange: err = %v, want account.ErrEmailChangeNotFound", err)
		}
	})

	t.Run("EmailChangeUnknownIsErrEmailChangeNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.TakeEmailChange(ctx, "nothing"); !errors.Is(err, account.ErrEmailChangeNotFound) {
			t.Errorf("TakeEmailChange(unknown): err = %v, want account.ErrEmailChangeNotFound", err)
		}
	})

	t.Run("EmailChangeExpiredIsInvisibleAndSwept", func(t *testing.T) {
		s := open(t)
		for _, c := range []account.EmailChange{change("old", time.Now().Add(-time.Second)), change("live", time.Now().Add(time.Hour))} {
			if err := s.CreateEmailChange(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if sw, ok := s.(interface {
			SweepEmailChanges(ctx context.Context, now time.Time) (int, error)
		}); ok {
			if n, err := sw.SweepEmailChanges(ctx, time.Now()); err != nil || n != 1 {
				t.Errorf("SweepEmailChanges = %d, %v; want the 1 expired link", n, err)
			}
		}
		if _, err := s.TakeEmailChange(ctx, "old"); !errors.Is(err, account.ErrEmailChangeNotFound) {
			t.Errorf("expired link: err = %v, want account.ErrEmailChangeNotFound", err)
		}
		if _, err := s.TakeEmailChange(ctx, "live"); err != nil {
			t.Errorf("the live link: %v", err)
		}
	})

	t.Run("ConcurrentTakesOneWins", func(t *testing.T) {
		s := open(t)
		if err := s.CreateEmailChange(ctx, change("link", time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, racers)
		Race(racers, func(i int) { _, errs[i] = s.TakeEmailChange(ctx, "link") })
		for i, err := range errs {
			if err != nil && !errors.Is(err, account.ErrEmailChangeNotFound) {
				t.Errorf("taker %d: %v", i, err)
			}
		}
		if n := count(errs); n != 1 {
			t.Errorf("%d of %d concurrent takes of one link succeeded, want exactly 1", n, racers)
		}
	})
}

// SubjectStore is what TestSubjectStore needs: account.Store,
// account.SubjectAssigner, and SaveAccount to write an account as it was
// stored before subject ids existed.
type SubjectStore interface {
	account.Store
	account.SubjectAssigner
	SaveAccount(ctx context.Context, a account.Account, previousEmail string) error
}

// TestSubjectStore is the contract of subject ids (OpenID Connect's sub):
// every account has its own from creation, and an account stored without
// one gets exactly one, however many first uses race for it.
func TestSubjectStore(t *testing.T, open func(t *testing.T) SubjectStore) {
	ctx := context.Background()

	t.Run("CreateGivesEveryAccountItsOwn", func(t *testing.T) {
		s := open(t)
		Race(racers, func(i int) {
			a := fullAccount(fmt.Sprintf("p%02d", i), "")
			a.Subject = ""
			if err := s.CreateAccount(ctx, a); err != nil {
				t.Errorf("CreateAccount: %v", err)
			}
		})
		seen := map[string]string{}
		for i := range racers {
			id := fmt.Sprintf("p%02d", i)
			sub := mustGet(t, s, id).Subject
			if sub == "" {
				t.Errorf("%s was created without a subject", id)
			}
			if other, dup := seen[sub]; dup {
				t.Errorf("%s and %s share the subject %q", other, id, sub)
			}
			seen[sub] = id
		}
	})

	t.Run("AssignKeepsTheOneAnAccountHas", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, fullAccount("p001", ""))
		got, err := s.AssignSubject(ctx, "p001", "candidate")
		if err != nil || got != "subject-p001" {
			t.Errorf("AssignSubject = %q, %v; want the account's own subject-p001", got, err)
		}
		if sub := mustGet(t, s, "p001").Subject; sub != "subject-p001" {
			t.Errorf("stored subject = %q, want subject-p001", sub)
		}
	})

	t.Run("ConcurrentFirstUsesGiveOneValue", func(t *testing.T) {
		s := open(t)
		legacy := fullAccount("p001", "")
		legacy.Subject = ""
		if err := s.SaveAccount(ctx, legacy, ""); err != nil {
			t.Fatal(err)
		}
		got := make([]string, racers)
		Race(racers, func(i int) {
			sub, err := s.AssignSubject(ctx, "p001", fmt.Sprint("candidate-", i))
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
			got[i] = sub
		})
		stored := mustGet(t, s, "p001").Subject
		if !strings.HasPrefix(stored, "candidate-") {
			t.Fatalf("stored subject = %q, want one of the candidates", stored)
		}
		for i, sub := range got {
			if sub != stored {
				t.Errorf("racer %d was told %q, but the account keeps %q", i, sub, stored)
			}
		}
		// Later uses, and a whole-account rewrite that lost the field,
		// find the same value again.
		legacy.FirstName = "Rewritten"
		if err := s.SaveAccount(ctx, legacy, ""); err != nil {
			t.Fatal(err)
		}
		if again, err := s.AssignSubject(ctx, "p001", "late"); err != nil || again != stored {
			t.Errorf("a later AssignSubject = %q, %v; want %q", again, err, stored)
		}
	})

	t.Run("AssignUnknownIsErrNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.AssignSubject(ctx, "nobody", "candidate"); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("err = %v, want account.ErrNotFound", err)
		}
	})
}
