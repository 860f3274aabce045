package cas

import (
	"strings"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/clients"
)

// Attribute is one released attribute; a multi-valued one repeats its
// element in the XML answer, as CAS clients expect.
type Attribute struct {
	Name   string
	Values []string
}

// Pronote's categories: the profile its « Interconnexion CAS » settings
// recognise each person by.
const (
	CategoryStudent = "Eleve"
	CategoryParent  = "Parent"
	CategoryTeacher = "Enseignant"
	CategoryStaff   = "Personnel"
)

// Category is the category c expects for a person of population: the
// client's own table (categories: in the school's file) first, then a
// default read from the population's key, so that the usual keys
// (students, eleves, parents, teachers, enseignants…) need no table.
// Every other population is staff, the category that opens the least in
// Pronote.
func Category(c clients.Client, population string) string {
	if v := c.Categories[population]; v != "" {
		return v
	}
	k := strings.ToLower(population)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(k, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("student", "eleve", "élève", "pupil"):
		return CategoryStudent
	case has("parent", "guardian", "responsable", "famil"):
		return CategoryParent
	case has("teacher", "enseignant", "prof"):
		return CategoryTeacher
	}
	return CategoryStaff
}

// Attributes are what c receives about acc at validation, by its profile.
// The person is named to every application by their identifier (cas:user).
func Attributes(c clients.Client, acc account.Account) []Attribute {
	one := func(name, v string) Attribute { return Attribute{Name: name, Values: []string{v}} }
	if c.Attributes == clients.ProfilePronote {
		return []Attribute{
			one("nom", acc.LastName),
			one("prenom", acc.FirstName),
			one("categories", Category(c, acc.Population)),
		}
	}
	out := []Attribute{one("uid", acc.Identifier)}
	if acc.Email != "" {
		out = append(out, one("mail", acc.Email))
	}
	return append(out,
		one("displayName", acc.FullName()),
		one("givenName", acc.FirstName),
		one("sn", acc.LastName),
		one("groups", acc.Population))
}
