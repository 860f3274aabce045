package account

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func known(p string) bool { return p == "parents" || p == "staff" }

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantRows int
		wantBad  []int // line numbers
		reason   string
	}{
		{"comma", "identifier,email,first_name,last_name,population,password\nP001,a@b.fr,Anne,Durand,parents,secret-pass\n", 1, nil, ""},
		{"semicolon and BOM", "\ufeffidentifier;email;first_name;last_name;population;provisional_password\nS01;;Éric;Noël;staff;Prov-1234\nS02;x@y.fr;Léa;Roy;staff;abc\n", 2, nil, ""},
		{"shared e-mail", "identifier,email,first_name,last_name,population,password\nA1,p@f.fr,A,B,parents,x\nA2,p@f.fr,C,B,parents,y\n", 2, nil, ""},
		{"missing column", "identifier,email,first_name,population,password\nA,,B,parents,x\n", 0, []int{1}, "last_name"},
		{"no password column", "identifier,email,first_name,last_name,population\nA,,B,C,parents\n", 0, []int{1}, "password or provisional_password"},
		{"bad rows all reported", "identifier,email,first_name,last_name,population,password\nok1,,A,B,parents,x\n,,A,B,parents,x\nid 2,,A,B,parents,x\nid3,not-mail,A,B,parents,x\nid4,,A,B,aliens,x\nid5,,A,B,parents,\n", 1, []int{3, 4, 5, 6, 7}, ""},
		{"duplicate identifier", "identifier,email,first_name,last_name,population,password\nA1,,A,B,parents,x\na1,,A,B,parents,y\n", 1, []int{3}, "already on line 2"},
		{"both passwords", "identifier,email,first_name,last_name,population,password,provisional_password\nA1,,A,B,parents,x,y\n", 0, []int{2}, "not both"},
		{"header injection in e-mail", "identifier,email,first_name,last_name,population,password\nA1,\"a@b.fr\r\nBcc: x@y.fr\",A,B,parents,x\n", 0, []int{2}, "not a valid address"},
		{"not UTF-8", "identifier,email,first_name,last_name,population,password\nA1,,\xe9ric,B,parents,x\n", 0, []int{2}, "UTF-8"},
		{"empty", "identifier,email,first_name,last_name,population,password\n", 0, []int{2}, "no accounts"},
		{"broken quote", "identifier,email,first_name,last_name,population,password\nA1,\"x,A,B,parents,x\n", 0, []int{2}, "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, bad, err := ParseCSV(strings.NewReader(tt.in), known)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.wantRows {
				t.Errorf("rows = %d, want %d (%+v)", len(rows), tt.wantRows, bad)
			}
			if len(bad) != len(tt.wantBad) {
				t.Fatalf("bad = %+v, want lines %v", bad, tt.wantBad)
			}
			for i, b := range bad {
				if b.Line != tt.wantBad[i] {
					t.Errorf("bad[%d] line %d, want %d (%s)", i, b.Line, tt.wantBad[i], b.Reason)
				}
			}
			if tt.reason != "" && !strings.Contains(bad[0].Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", bad[0].Reason, tt.reason)
			}
		})
	}
}

func TestParseCSVKeepsPasswordSpaces(t *testing.T) {
	rows, bad, _ := ParseCSV(strings.NewReader("identifier,email,first_name,last_name,population,provisional_password\n A1 ,,A,B,parents, two words \n"), known)
	if len(bad) != 0 || len(rows) != 1 {
		t.Fatalf("rows %v bad %v", rows, bad)
	}
	if rows[0].Identifier != "A1" || rows[0].Password != " two words " || !rows[0].Provisional {
		t.Errorf("row = %+v", rows[0])
	}
}

// memStore is an in-memory Store for unit tests of the importer.
type memStore struct {
	mu sync.Mutex
	m  map[string]Account
}

func (s *memStore) GetAccount(_ context.Context, id string) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[id]
	if !ok {
		return Account{}, ErrNotFound
	}
	return a, nil
}

func (s *memStore) CreateAccount(_ context.Context, a Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[a.ID]; ok {
		return ErrConflict
	}
	s.m[a.ID] = a
	return nil
}

func (s *memStore) PatchAccount(_ context.Context, id string, p Patch, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[id]
	if !ok {
		return ErrNotFound
	}
	if p.IfPasswordSetBy != nil && a.PasswordSetBy != *p.IfPasswordSetBy {
		return ErrConflict
	}
	apply := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	apply(&a.Identifier, p.Identifier)
	apply(&a.Email, p.Email)
	apply(&a.EmailSetBy, p.EmailSetBy)
	apply(&a.FirstName, p.FirstName)
	apply(&a.LastName, p.LastName)
	apply(&a.Population, p.Population)
	apply(&a.PasswordHash, p.PasswordHash)
	if p.Status != nil {
		a.Status = *p.Status
	}
	a.UpdatedAt = now
	s.m[id] = a
	return nil
}

func (s *memStore) AccountsByEmail(context.Context, string) ([]Account, error) { return nil, nil }

func cheapHasher() *Hasher {
	return NewHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
}

func TestImportIsIdempotentAndKeepsUserPasswords(t *testing.T) {
	ctx := context.Background()
	st := &memStore{m: map[string]Account{}}
	im := NewImporter(st, cheapHasher(), 2, time.Now)
	csv := "identifier,email,first_name,last_name,population,password\nP1,a@b.fr,Anne,Durand,parents,first-pass\nP2,,Paul,Durand,parents,second-pass\n"
	rows, _, _ := ParseCSV(strings.NewReader(csv), known)

	sum, err := im.Import(ctx, rows)
	if err != nil || sum != (ImportSummary{Created: 2}) {
		t.Fatalf("first import = %+v, %v", sum, err)
	}
	sum, err = im.Import(ctx, rows)
	if err != nil || sum != (ImportSummary{Unchanged: 2}) {
		t.Fatalf("second import = %+v, %v", sum, err)
	}

	// The person chooses their own password; the next import must not undo it.
	a := st.m["p1"]
	a.PasswordHash, _ = cheapHasher().Hash("chosen-by-anne")
	a.PasswordSetBy = SetByUser
	st.m["p1"] = a
	rows[1].Password = "changed-by-school"
	rows[0].Email = "new@b.fr"
	sum, err = im.Import(ctx, rows)
	if err != nil || sum != (ImportSummary{Updated: 2}) {
		t.Fatalf("third import = %+v, %v", sum, err)
	}
	if ok, _, _ := cheapHasher().Verify(st.m["p1"].PasswordHash, "chosen-by-anne"); !ok {
		t.Error("import replaced a password the person had chosen")
	}
	if ok, _, _ := cheapHasher().Verify(st.m["p2"].PasswordHash, "changed-by-school"); !ok {
		t.Error("import did not apply the school's new password")
	}
	if st.m["p1"].Email != "new@b.fr" {
		t.Errorf("e-mail not updated: %q", st.m["p1"].Email)
	}
}
