package account

import (
	"strings"
	"testing"
)

// TestParseCSVQuoteAtLastLine: a row that is only an opening quote (a file
// cut off in the middle of a quoted field, or a stray " typed in a
// spreadsheet cell) must be reported as a bad line, not crash the import
// (FieldPos(0) after a failed Read panicked before 280dfc0; found by
// FuzzParseCSV, whose crasher stays in testdata/fuzz).
func TestParseCSVQuoteAtLastLine(t *testing.T) {
	for _, in := range []string{
		"identifier,email,first_name,last_name,population,password\n\"",
		"identifier,email,first_name,last_name,population,password\nA1,,A,B,parents,x\n\"\n",
		"identifier,email,first_name,last_name,population,password\n\"A1,,A,B,parents,x\n",
	} {
		rows, bad, err := ParseCSV(strings.NewReader(in), known)
		if err != nil || len(bad) != 1 || !strings.Contains(bad[0].Reason, "unreadable CSV") {
			t.Errorf("%q: rows %v, bad %+v, err %v; want one unreadable line", in, rows, bad, err)
		}
	}
}

// TestParseCSVRefusesInvisibleFormatting: a bidirectional override
// (U+202E) or a zero-width character in a name would show it reversed or
// hide it from search on every page and letter (security issue, point 15).
func TestParseCSVRefusesInvisibleFormatting(t *testing.T) {
	for name, first := range map[string]string{
		"right-to-left override": "Ann\u202Eeruod",
		"left-to-right isolate":  "\u2066Anne",
		"zero-width space":       "An\u200Bne",
		"byte order mark":        "\uFEFFAnne",
	} {
		t.Run(name, func(t *testing.T) {
			in := "identifier,email,first_name,last_name,population,password\nA1,,\"" + first + "\",Durand,parents,x\n"
			rows, bad, err := ParseCSV(strings.NewReader(in), known)
			if err != nil || len(rows) != 0 || len(bad) != 1 || !strings.Contains(bad[0].Reason, "first_name") {
				t.Errorf("rows %v, bad %+v, err %v; want line 2 refused for its first_name", rows, bad, err)
			}
		})
	}
	// Accents, apostrophes, hyphens and spaces are names.
	in := "identifier,email,first_name,last_name,population,password\nA1,,Marie-Hélène,D'Aubigné Ñúñez,parents,x\n"
	if rows, bad, err := ParseCSV(strings.NewReader(in), known); err != nil || len(rows) != 1 || len(bad) != 0 {
		t.Errorf("an ordinary French name refused: %+v %v", bad, err)
	}
}
