"""Knowledge domain: entities, facts and relations in the AGE graph (next issue).

Its storage goes through core.storage ports like every app; nothing here yet."""
