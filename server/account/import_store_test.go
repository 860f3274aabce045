package account_test

import (
	"context"
	"reflect"
	"slices"
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
	var progress []int
	im := account.NewImporter(st.Accounts(), hasher, 2, time.Now).
		WithProgress(func(done, total int) { progress = append(progress, done, total) })
	csv := "identifier,email,first_name,last_name,population,password\nP1,a@b.fr,Anne,Durand,parents,first-pass\nP2,,Paul,Durand,parents,second-pass\n"
	rows, _, _ := account.ParseCSV(strings.NewReader(csv), known)

	sum, err := im.Import(ctx, rows)
	if err != nil || !reflect.DeepEqual(sum, account.ImportSummary{Created: 2}) {
		t.Fatalf("first import = %+v, %v", sum, err)
	}
	if want := []int{1, 2, 2, 2}; !slices.Equal(progress, want) {
		t.Errorf("progress = %v, want %v (done, total after each row)", progress, want)
	}
	sum, err = im.Import(ctx, rows)
	if err != nil || !reflect.DeepEqual(sum, account.ImportSummary{Unchanged: 2}) {
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
	if err != nil || !reflect.DeepEqual(sum, account.ImportSummary{Updated: 2}) {
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

// TestImportKeepsAddressesPeopleSet: a nightly re-import never puts the
// file's address back over one the person confirmed on their personal page
// or chose at activation, and says how many it left (security issue,
// point 7).
func TestImportKeepsAddressesPeopleSet(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	hasher := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	known := func(string) bool { return true }
	im := account.NewImporter(st.Accounts(), hasher, 2, time.Now)
	csv := "identifier,email,first_name,last_name,population,password\n" +
		"P1,anne@school.fr,Anne,Durand,parents,first-pass\n" +
		"P2,paul@school.fr,Paul,Durand,parents,second-pass\n" +
		"S3,,Eric,Noel,staff,third-pass\n"
	rows, _, _ := account.ParseCSV(strings.NewReader(csv), known)
	if _, err := im.Import(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// Anne confirms a new address on her personal page; Eric chooses a
	// rescue address at activation. Both write EmailSetBy = user.
	for id, addr := range map[string]string{"p1": "anne.perso@example.org", "s3": "eric.secours@example.org"} {
		if err := st.Accounts().PatchAccount(ctx, id, account.Patch{Email: account.Set(addr), EmailSetBy: account.Set(account.SetByUser)}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// The same file again, and a file that changes Paul's address.
	rows[1].Email = "paul.new@school.fr"
	sum, err := im.Import(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if sum.KeptEmails != 2 {
		t.Errorf("summary %+v: want 2 addresses kept as their owners set them", sum)
	}
	for id, want := range map[string]string{"p1": "anne.perso@example.org", "s3": "eric.secours@example.org", "p2": "paul.new@school.fr"} {
		a, err := st.Accounts().GetAccount(ctx, id)
		if err != nil || a.Email != want {
			t.Errorf("%s: address %q (%v), want %q", id, a.Email, err, want)
		}
	}
	// The person's address still finds the account; the file's does not.
	if found, _ := st.Accounts().AccountsByEmail(ctx, "anne.perso@example.org"); len(found) != 1 {
		t.Error("the confirmed address no longer finds the account")
	}
	if found, _ := st.Accounts().AccountsByEmail(ctx, "anne@school.fr"); len(found) != 0 {
		t.Error("the file's old address still finds the account")
	}
}
