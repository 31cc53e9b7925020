//! The add and change forms, declared (Django's `fieldsets`): a model names its sections and
//! their fields in [`ModelAdmin::FIELDSETS`] (and [`ModelAdmin::ADD_FIELDSETS`]), builds each
//! field by name with its value, and [`FormPage`] renders them inside what every form has: the
//! heading with History and Delete, the alerts, the CSRF and version tokens, the read-only
//! `<fieldset disabled>`, each field's errors and the save buttons.

use askama::Template;
use uuid::Uuid;

use super::kit::{Choice, ChoiceGroup, FieldErrors, PageCtx};
use super::model_admin::ModelAdmin;
use crate::error::AdminError;

/// A section of a form: its legend ("" for none), a line under it, and its fields in order.
pub struct Fieldset {
    pub title: &'static str,
    pub description: &'static str,
    pub fields: Vec<Row>,
}

/// A field with its name (`id_<name>`, and what it posts), label, help (a list when several
/// lines) and errors.
pub struct Row {
    pub name: &'static str,
    pub label: &'static str,
    pub help: Vec<String>,
    pub errors: Vec<String>,
    pub field: Field,
}

impl Row {
    /// The field labelled `label`; its name and errors come from the declaration.
    pub fn new(label: &'static str, field: impl Into<Field>) -> Self {
        Row {
            name: "",
            label,
            help: Vec::new(),
            errors: Vec::new(),
            field: field.into(),
        }
    }

    pub fn help(mut self, lines: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.help.extend(lines.into_iter().map(Into::into));
        self
    }
}

/// What a field renders.
pub enum Field {
    /// A single-line `<input>`.
    Input(Input),
    /// A `<textarea>`: its text and rows.
    TextArea(String, u8),
    /// Ticked or not, and locked: shown disabled (a ticked one is posted back unchanged).
    Checkbox(bool, bool),
    /// Checkboxes side by side (a user's groups): their ids' prefix, the choices.
    Choices(&'static str, Vec<Choice>),
    /// Checkboxes under headings (permissions by model): their ids' prefix, the groups.
    ChoiceGroups(&'static str, Vec<ChoiceGroup>),
    /// A value shown, not edited, and a link after it (address, text).
    ReadOnly(String, Option<(String, &'static str)>),
}

/// A single-line `<input>`.
pub struct Input {
    /// `type`: text, email or password.
    pub kind: &'static str,
    pub value: String,
    pub maxlength: Option<usize>,
    pub required: bool,
    /// `autocapitalize="none"`: phones leave usernames as typed.
    pub no_caps: bool,
}

impl Input {
    pub fn new(kind: &'static str, value: &str) -> Self {
        Input {
            kind,
            value: value.to_owned(),
            maxlength: None,
            required: false,
            no_caps: false,
        }
    }

    pub fn text(value: &str) -> Self {
        Self::new("text", value)
    }

    pub fn max(mut self, maxlength: usize) -> Self {
        self.maxlength = Some(maxlength);
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn no_caps(mut self) -> Self {
        self.no_caps = true;
        self
    }
}

impl From<Input> for Field {
    fn from(input: Input) -> Self {
        Field::Input(input)
    }
}

/// A button under the form, posting a form of its own ("Sign out everywhere"); shown when the
/// form may be saved.
pub struct Tool {
    pub url: String,
    pub label: &'static str,
    /// Its Bootstrap variant (`btn-outline-warning`).
    pub class: &'static str,
}

/// A model's add or change form.
#[derive(Template, Default)]
#[template(path = "admin/change_form.html")]
pub struct FormPage {
    pub page_title: String,
    pub ctx: PageCtx,
    pub heading: String,
    /// Where the form posts.
    pub action: String,
    /// `/admin/<model>/<id>/` on a change form, for its History and Delete links.
    pub object_url: Option<String>,
    pub delete: bool,
    /// Form-wide error (a stale save).
    pub conflict: String,
    pub has_errors: bool,
    /// Why the form is read-only although the viewer may change the model.
    pub notice: &'static str,
    /// The object's version when the form was first rendered (change forms).
    pub lock: Option<String>,
    /// Query string of the list a change form was opened from, kept through saves.
    pub changelist_filters: Option<String>,
    pub readonly: bool,
    pub fieldsets: Vec<Fieldset>,
    pub tools: Vec<Tool>,
    pub warning: &'static str,
}

impl FormPage {
    /// `M`'s add form, or (`object`: id, name, version token) its change form, `readonly` or
    /// not; the sections as `M` declares them, each field built by `field(name)`. A name that
    /// `field` does not know is the model's mistake: a 500.
    pub fn new<M: ModelAdmin>(
        ctx: PageCtx,
        object: Option<(Uuid, &str, String)>,
        readonly: bool,
        errors: &FieldErrors,
        mut field: impl FnMut(&str) -> Option<Row>,
    ) -> Result<Self, AdminError> {
        let declared = match object {
            Some(_) => M::FIELDSETS,
            None => M::ADD_FIELDSETS,
        };
        let mut fieldsets = Vec::new();
        for &(title, names) in declared {
            let mut fields = Vec::new();
            for &name in names {
                let row = field(name)
                    .ok_or_else(|| AdminError::internal(format!("no form field {name}")))?;
                let errors = errors.of(name);
                fields.push(Row {
                    name,
                    errors,
                    ..row
                });
            }
            fieldsets.push(Fieldset {
                title,
                description: "",
                fields,
            });
        }
        let has_errors = !errors.is_empty();
        let Some((id, name, lock)) = object else {
            let heading = format!("Add {}", M::SINGULAR);
            let action = format!("/admin/{}/add/", M::MODEL);
            return Ok(FormPage {
                page_title: heading.clone(),
                ctx,
                heading,
                action,
                has_errors,
                fieldsets,
                ..Default::default()
            });
        };
        let verb = if readonly { "View" } else { "Change" };
        Ok(FormPage {
            page_title: format!("Change {} {name}", M::SINGULAR),
            heading: format!("{verb} {}: {name}", M::SINGULAR),
            action: format!("/admin/{}/{id}/change/", M::MODEL),
            object_url: Some(format!("/admin/{}/{id}/", M::MODEL)),
            delete: ctx.can(M::MODEL, "delete"),
            lock: Some(lock),
            ctx,
            readonly,
            has_errors,
            fieldsets,
            ..Default::default()
        })
    }
}
