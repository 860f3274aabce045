package desk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
)

// flakyAccounts stores patches until failAfter of them succeeded, then
// fails: a store that goes away in the middle of a batch.
type flakyAccounts struct {
	Accounts
	mu        sync.Mutex
	failAfter int
	patched   map[string]account.Patch
}

func (f *flakyAccounts) PatchAccount(_ context.Context, id string, p account.Patch, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.patched) >= f.failAfter {
		return errors.New("store: connection lost")
	}
	f.patched[id] = p
	return nil
}

// flakySessions fails to end the sessions of one account.
type flakySessions struct {
	account.SessionRevoker
	failFor string
}

func (f flakySessions) RevokeAll(_ context.Context, id string) error {
	if id == f.failFor {
		return errors.New("store: sessions unreachable")
	}
	return nil
}

type noActivations struct{ Activations }

func (noActivations) Abandon(context.Context, string) error { return nil }
func (noActivations) Progress(context.Context, string) (activation.Step, time.Time, error) {
	return "", time.Time{}, nil
}

type plainHasher struct{}

func (plainHasher) Hash(pw string) (string, error) { return "hash:" + pw, nil }

// TestIssueAllNeverLosesALetter: a batch that fails partway returns every
// letter whose password was stored (those accounts open with nothing
// else) and counts the accounts left unchanged; a letter whose password
// was stored but whose sessions could not be ended is returned too.
func TestIssueAllNeverLosesALetter(t *testing.T) {
	accs := make([]account.Account, 10)
	for i := range accs {
		accs[i] = account.Account{ID: fmt.Sprintf("e%02d", i), Identifier: fmt.Sprintf("E%02d", i), LastName: fmt.Sprintf("N%02d", i), Status: account.StatusPending}
	}
	for _, tc := range []struct {
		name                 string
		failAfter            int
		sessionsFailFor      string
		wantLetters, missing int
		wantErr              bool
	}{
		{"all issued", 100, "", 10, 0, false},
		{"store lost after 4", 4, "", 4, 6, true},
		{"store lost at once", 0, "", 0, 10, true},
		{"sessions of one account unreachable", 100, "e03", -1, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &flakyAccounts{failAfter: tc.failAfter, patched: map[string]account.Patch{}}
			s := New(Deps{Accounts: store, Sessions: flakySessions{failFor: tc.sessionsFailFor}, Activations: noActivations{},
				Hasher: plainHasher{}, ValidDays: 30, Now: time.Now})
			letters, err := s.IssueAll(context.Background(), accs)
			if tc.wantLetters >= 0 && len(letters) != tc.wantLetters {
				t.Errorf("%d letters, want %d", len(letters), tc.wantLetters)
			}
			// The invariant: every stored password has its letter, and
			// every letter's password is the one stored.
			if len(letters) != len(store.patched) {
				t.Errorf("%d passwords stored but %d letters returned", len(store.patched), len(letters))
			}
			for _, l := range letters {
				p, ok := store.patched[l.Account.ID]
				if !ok || *p.PasswordHash != "hash:"+l.Password {
					t.Errorf("letter of %s does not match what was stored", l.Account.ID)
				}
			}
			inc, ok := errors.AsType[*IncompleteError](err)
			if tc.wantErr != (err != nil) || (err != nil && !ok) {
				t.Fatalf("err = %v, want an *IncompleteError: %v", err, tc.wantErr)
			}
			if tc.sessionsFailFor != "" && !slices.ContainsFunc(letters, func(l Letter) bool { return l.Account.ID == tc.sessionsFailFor }) {
				t.Errorf("the letter of %s, whose password was stored, is lost", tc.sessionsFailFor)
			}
			if ok && tc.missing >= 0 && inc.Missing != tc.missing {
				t.Errorf("missing = %d, want %d", inc.Missing, tc.missing)
			}
		})
	}
}
