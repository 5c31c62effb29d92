//! `steward import backstage` on a sample catalog written from Backstage's documented format:
//! what it makes is a configuration `steward validate` accepts, and what it could not carry
//! over is said, with where.

use steward_config::backstage::import;

fn sample() -> (String, String) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/backstage/catalog-info.yaml"
    );
    (
        "catalog-info.yaml".to_string(),
        std::fs::read_to_string(path).unwrap(),
    )
}

#[test]
fn a_backstage_catalog_becomes_services_teams_and_users_that_validate() {
    let imported = import(&[sample()]).unwrap();
    assert_eq!(
        (imported.services, imported.teams, imported.users),
        (3, 3, 2)
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imported.yaml"), &imported.yaml).unwrap();
    let loaded =
        steward_config::load(dir.path()).unwrap_or_else(|e| panic!("{e:?}\n{}", imported.yaml));
    let c = &loaded.catalog;
    let web = c.service("artist-web").unwrap();
    assert_eq!(web.owner.as_deref(), Some("artist-relations-team"));
    assert_eq!(web.depends_on, ["artist-lookup", "playback-service"]);
    assert_eq!(web.display_name.as_deref(), Some("Artist Web"));
    assert_eq!(web.system.as_deref(), Some("public-websites"));
    assert_eq!(web.tags, ["java", "public"]);
    assert_eq!(web.lifecycle.as_deref(), Some("production"));
    assert_eq!(web.tier, Some(3));
    assert_eq!(
        web.links
            .iter()
            .map(|l| (l.title.as_str(), l.url.as_str()))
            .collect::<Vec<_>>(),
        [
            ("Admin Dashboard", "https://admin.example-org.com"),
            (
                "https://grafana.example-org.com/d/artist-web",
                "https://grafana.example-org.com/d/artist-web"
            )
        ]
    );
    assert_eq!(
        c.dependencies("artist-web", true),
        ["artist-lookup", "playback-service"]
    );
    assert_eq!(c.dependents("artist-lookup", false), ["artist-web"]);
    // A user's component is owned by a team of one; the group's members include its users.
    let playback = c.service("playback-service").unwrap();
    assert_eq!(playback.owner.as_deref(), Some("jdoe"));
    assert_eq!(playback.lifecycle, None);
    let team = |n: &str| c.teams.iter().find(|t| t.name == n).unwrap();
    assert_eq!(team("artist-relations-team").members, ["jdoe"]);
    assert_eq!(
        team("artist-relations-team").display_name.as_deref(),
        Some("Artist Relations")
    );
    assert_eq!(team("jdoe").members, ["jdoe"]);
    assert_eq!(team("employees").members, ["jdoe"]);
    let jdoe = c.user("jdoe").unwrap();
    assert_eq!(jdoe.email.as_deref(), Some("jenny-doe@example.com"));
}

#[test]
fn what_cannot_be_carried_over_is_said_with_where() {
    let notes = import(&[sample()]).unwrap().notes;
    let has = |s: &str| notes.iter().any(|n| n.contains(s));
    for expected in [
        "catalog-info.yaml:30:7: Component `artist-web`: dependsOn `resource:default/artists-db` is left out: Steward's services depend on services; declare it as a Service to keep the edge",
        "catalog-info.yaml:59:9: API `artist-api` is not carried over: Steward imports Components, Groups and Users",
        "Resource `artists-db` is not carried over: Steward imports Components, Groups and Users (declare a Service for a resource a component depends on to keep the edge)",
        "Component `Playback_Service` is named `playback-service` in Steward (lowercase, `-` for `_`)",
        "Component `Playback_Service` is owned by user `jdoe`: Steward's owners are teams, so `jdoe` became a team of one",
        "Component `Playback_Service`: lifecycle `beta` is not carried over (Steward knows experimental, production, deprecated)",
        "Component `artist-web`: spec.consumesApis is not carried over (Steward has no such field)",
        "Component `artist-lookup`: spec.providesApis is not carried over (Steward has no such field)",
        "Component `artist-web`: type `website` is not carried over; a ServiceClass (spec.class) says what kind of service it is",
        "Component `artist-web`: its annotations are not carried over",
        "Component `artist-web`: Backstage has no tier; tier 3 is set",
        "Group `artist-relations-team`: spec.parent is not carried over (Steward has no such field)",
        "User `jdoe`: Backstage has no time zone; UTC is assumed",
        "User `guest`: Backstage has no time zone; UTC is assumed, and without an email nobody can reach them: add a contact",
        "System `public-websites` is not carried over",
    ] {
        assert!(has(expected), "no note says {expected:?}:\n{}", notes.join("\n"));
    }
}

#[test]
fn a_syntax_error_is_reported_with_its_place_and_nothing_is_made() {
    let err = import(&[("bad.yaml".into(), "kind: [Component\n".into())]).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].loc.file.as_ref(), "bad.yaml");
    assert!(
        err[0].message.starts_with("YAML syntax error"),
        "{}",
        err[0].message
    );
    // Names with characters Steward cannot take are quoted safely, whatever they hold.
    let odd = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: odd\n  description: \"a \\\"quoted\\\" name: with\\nnewline\"\nspec: {type: service, lifecycle: production, owner: team-x}\n";
    let imported = import(&[("odd.yaml".into(), odd.into())]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("i.yaml"), &imported.yaml).unwrap();
    let loaded = steward_config::load(dir.path()).unwrap();
    assert_eq!(
        loaded
            .catalog
            .service("odd")
            .unwrap()
            .description
            .as_deref(),
        Some("a \"quoted\" name: with\nnewline")
    );
}

#[test]
fn names_steward_cannot_take_and_names_that_collide_are_skipped_with_a_note() {
    let doc = |name: &str| {
        format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: \"{name}\"}}\nspec: {{type: service, lifecycle: production, owner: team-x}}\n---\n")
    };
    let long = format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: wordy, description: \"{}\"}}\nspec: {{type: service, lifecycle: production, owner: team-x}}\n---\n",
        "é".repeat(2000)
    );
    let text = format!(
        "{}{}{}{}{long}",
        doc("_x"),
        doc("Über"),
        doc("Foo_Bar"),
        doc("foo-bar")
    );
    let imported = import(&[("n.yaml".into(), text)]).unwrap();
    assert_eq!(imported.services, 2);
    assert!(imported.notes.iter().any(|n| n.ends_with(
        "Component `wordy`: its description is cut to 1050 characters, the most Steward takes"
    )));
    let notes = imported.notes.join("\n");
    assert!(
        notes.contains("Component `_x` is skipped: `-x` is not a valid Steward name"),
        "{notes}"
    );
    assert!(
        notes.contains("Component `Über` is skipped: `Über` is not a valid Steward name"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "Component `foo-bar` is skipped: it becomes `foo-bar`, as Component `Foo_Bar` does"
        ),
        "{notes}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("i.yaml"), &imported.yaml).unwrap();
    let loaded = steward_config::load(dir.path()).unwrap();
    let wordy = loaded.catalog.service("wordy").unwrap();
    assert_eq!(wordy.description.as_ref().unwrap().chars().count(), 1050);
}
