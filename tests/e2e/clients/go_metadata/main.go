// Debian's cloud.google.com/go/compute/metadata and golang.org/x/oauth2/google against the
// metadata proxy. Build in GOPATH mode (GO111MODULE=off GOPATH=/usr/share/gocode), run with
// GCE_METADATA_HOST=host:port. Prints one "key: value" line per check; exits 1 on failure.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"cloud.google.com/go/compute/metadata"
	"golang.org/x/oauth2/google"
)

func check(name string, value string, err error) {
	if err != nil {
		fmt.Printf("%s: ERROR %v\n", name, err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s\n", name, value)
}

func main() {
	fmt.Printf("on gce: %v\n", metadata.OnGCE())
	project, err := metadata.ProjectID()
	check("project id", project, err)
	number, err := metadata.NumericProjectID()
	check("numeric project id", number, err)
	email, err := metadata.Email("default")
	check("email", email, err)
	zone, err := metadata.Zone()
	check("zone", zone, err)
	id, err := metadata.InstanceID()
	check("instance id", id, err)
	tags, err := metadata.InstanceTags()
	check("tags", fmt.Sprintf("%d", len(tags)), err)
	scopes, err := metadata.Scopes("default")
	check("scopes", strings.Join(scopes, ","), err)
	_, err = metadata.Get("universe/universe_domain")
	_, notDefined := err.(metadata.NotDefinedError)
	fmt.Printf("universe_domain not defined: %v\n", notDefined)

	ts := google.ComputeTokenSource("", "https://www.googleapis.com/auth/cloud-platform")
	token, err := ts.Token()
	if err != nil {
		check("compute token", "", err)
	}
	check("compute token", token.AccessToken, nil)
	fmt.Printf("compute token type: %s\n", token.Type())
	fmt.Printf("compute token expiry set: %v\n", !token.Expiry.IsZero())

	creds, err := google.FindDefaultCredentials(context.Background(), "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		check("default credentials", "", err)
	}
	check("default credentials project", creds.ProjectID, nil)
	adcToken, err := creds.TokenSource.Token()
	if err != nil {
		check("default credentials token", "", err)
	}
	check("default credentials token", adcToken.AccessToken, nil)
}
