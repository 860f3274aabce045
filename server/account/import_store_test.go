package account_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// TestImportIsIdempotentAndKeepsUserPasswords runs the importer on the real
// store: its conditional writes (IfPasswordSetBy) are what keep a chosen
// password, and an in-memory copy of them would only test itself.
func TestImportIsIdempotentAndKeepsUserPasswords(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	hasher := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	known := func(p string) bool { return p == "parents" || p == "staff" }
	im := account.NewImporter(st.Accounts(), hasher, 2, time.Now)
	csv := "identifier,email,first_name,last_name,population,password\nP1,a@b.fr,Anne,Durand,parents,first-pass\nP2,,Paul,Durand,parents,second-pass\n"
	rows, _, _ := account.ParseCSV(strings.NewReader(csv), known)

	sum, err := im.Import(ctx, rows)
	if err != nil || sum != (account.ImportSummary{Created: 2}) {
		t.Fatalf("first import = %+v, %v", sum, err)
	}
	sum, err = im.Import(ctx, rows)
	if err != nil || sum != (account.ImportSummary{Unchanged: 2}) {
		t.Fatalf("second import = %+v, %v", sum, err)
	}

	// The person chooses their own password; the next import must not undo it.
	chosen, _ := hasher.Hash("chosen-by-anne")
	if err := st.Accounts().SetPassword(ctx, "p1", chosen, time.Now()); err != nil {
		t.Fatal(err)
	}
	rows[1].Password = "changed-by-school"
	rows[0].Email = "new@b.fr"
	sum, err = im.Import(ctx, rows)
	if err != nil || sum != (account.ImportSummary{Updated: 2}) {
		t.Fatalf("third import = %+v, %v", sum, err)
	}
	get := func(id string) account.Account {
		t.Helper()
		a, err := st.Accounts().GetAccount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if ok, _, _ := hasher.Verify(get("p1").PasswordHash, "chosen-by-anne"); !ok {
		t.Error("import replaced a password the person had chosen")
	}
	if ok, _, _ := hasher.Verify(get("p2").PasswordHash, "changed-by-school"); !ok {
		t.Error("import did not apply the school's new password")
	}
	if got := get("p1").Email; got != "new@b.fr" {
		t.Errorf("e-mail not updated: %q", got)
	}
	// The address index follows the import's change of address.
	if got, err := st.Accounts().AccountsByEmail(ctx, "a@b.fr"); err != nil || len(got) != 0 {
		t.Errorf("the old address still finds %d accounts (%v)", len(got), err)
	}
}
