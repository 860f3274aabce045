package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

func TestAccountsRoundTripAndEmailIndex(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := account.Account{ID: "p001", Identifier: "P001", Email: "Parent@Example.fr", FirstName: "Anne", LastName: "Durand",
		Population: "parents", Status: account.StatusActive, PasswordHash: "h", PasswordSetBy: account.SetByImport, CreatedAt: now, UpdatedAt: now}
	b := a
	b.ID, b.Identifier, b.FirstName = "p002", "P002", "Paul"
	for _, x := range []account.Account{b, a} {
		if err := s.Accounts().SaveAccount(ctx, x, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Accounts().GetAccount(ctx, "p001")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("GetAccount = %+v, %v; want %+v", got, err, a)
	}
	if _, err := s.Accounts().GetAccount(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("unknown account: err = %v", err)
	}

	shared, err := s.Accounts().AccountsByEmail(ctx, " parent@EXAMPLE.fr ")
	if err != nil || len(shared) != 2 || shared[0].ID != "p001" || shared[1].ID != "p002" {
		t.Fatalf("AccountsByEmail = %+v, %v", shared, err)
	}

	// Moving one account to another address removes it from the old entry.
	b.Email = "paul@example.fr"
	if err := s.Accounts().SaveAccount(ctx, b, a.Email); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email string
		want  []string
	}{
		{"parent@example.fr", []string{"p001"}},
		{"paul@example.fr", []string{"p002"}},
		{"nobody@example.fr", nil},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			got, err := s.Accounts().AccountsByEmail(ctx, tt.email)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, g := range got {
				ids = append(ids, g.ID)
			}
			if len(ids) != len(tt.want) || (len(ids) > 0 && ids[0] != tt.want[0]) {
				t.Errorf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
	if n, err := s.Accounts().CountAccounts(ctx); err != nil || n != 2 {
		t.Errorf("CountAccounts = %d, %v", n, err)
	}
}

// TestSharedEmailConcurrentImport: a parent's children imported by parallel
// workers must all be found by the parent's address.
func TestSharedEmailConcurrentImport(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%02d", i)
			a := account.Account{ID: id, Identifier: id, Email: "parent@example.fr", FirstName: "C", LastName: "D", Population: "parents", Status: account.StatusActive}
			if err := s.Accounts().SaveAccount(ctx, a, ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Accounts().AccountsByEmail(ctx, "parent@example.fr")
	if err != nil || len(got) != n {
		t.Fatalf("AccountsByEmail found %d of %d accounts (%v)", len(got), n, err)
	}
}
