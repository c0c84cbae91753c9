//! Several districts' registries as one ([`Registry::merged`]): what a stats node that
//! follows many districts checks queries against.

use super::{CategoryDocument, Registry, RegistryDocument, RegistryError};

impl Registry {
    /// One registry holding every jurisdiction of `registries` (a city of districts).
    /// Categories are shared: a category listed by several registries must be listed the
    /// same way (name and default deadline) in each, else [`RegistryError::DuplicateCode`]
    /// names it; a jurisdiction code listed by two registries is refused the same way.
    pub fn merged<'registry>(
        registries: impl IntoIterator<Item = &'registry Registry>,
    ) -> Result<Registry, RegistryError> {
        let mut merged = RegistryDocument::default();
        for registry in registries {
            let document = registry.to_document();
            merged.districts.extend(document.districts);
            merged.streets.extend(document.streets);
            merged.communities.extend(document.communities);
            merged.grids.extend(document.grids);
            for category in document.categories {
                match merged
                    .categories
                    .iter()
                    .find(|known: &&CategoryDocument| known.code == category.code)
                {
                    Some(known) if *known == category => {}
                    Some(_) => {
                        return Err(RegistryError::DuplicateCode {
                            section: "categories",
                            code: category.code,
                        });
                    }
                    None => merged.categories.push(category),
                }
            }
        }
        Registry::from_document(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(registries: &[Registry], expected: Result<(usize, usize, usize), RegistryError>) {
        let actual = Registry::merged(registries)
            .map(|merged| (merged.district_count(), merged.grid_count(), merged.category_count()));
        assert_eq!(actual, expected);
    }

    fn one_district(code: &str, category_deadline_hours: u32) -> Registry {
        let json = format!(
            r#"{{"districts":[{{"code":"{code}","display_name":"D","time_zone":"Asia/Shanghai"}}],"streets":[{{"code":"{code}.s1","display_name":"S"}}],
            "communities":[{{"code":"{code}.s1.c1","display_name":"C"}}],"grids":[{{"code":"{code}.s1.c1.g1","display_name":"G"}}],
            "categories":[{{"code":"other","display_name":"Other","default_handling_deadline_hours":{category_deadline_hours}}}]}}"#
        );
        match Registry::from_json_str(&json) {
            Ok(registry) => registry,
            Err(error) => panic!("test registry invalid: {error}"),
        }
    }

    #[test]
    fn districts_add_up_and_categories_are_shared() {
        check(&[one_district("a", 24), one_district("b", 24)], Ok((2, 2, 1)));
        check(&[one_district("a", 24)], Ok((1, 1, 1)));
        check(
            &[one_district("a", 24), one_district("b", 48)],
            Err(RegistryError::DuplicateCode {
                section: "categories",
                code: "other".to_owned(),
            }),
        );
        check(
            &[one_district("a", 24), one_district("a", 24)],
            Err(RegistryError::DuplicateCode {
                section: "districts",
                code: "a".to_owned(),
            }),
        );
    }
}
