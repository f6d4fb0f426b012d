// Team: the workspace's members and their roles; invite (an invitation the invitee accepts), change role, remove.

import { del, get, patch, post } from "../api.js";
import { add, confirmAction, empty, field, fmtDate, h, mount, run, showError } from "../dom.js";

const ROLES = ["owner", "admin", "agent", "viewer"];
const ROLE_HELP = {
  owner: "everything, including the audit log",
  admin: "bots, knowledge, keys and the team",
  agent: "reads conversations and takes them over",
  viewer: "reads only",
};

export default async function renderTeam(root, ctx) {
  const canManage = ctx.hasRole("admin");
  const myId = ctx.me ? ctx.me.user.id : null;
  const list = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading members…"));

  const load = async () => {
    let members;
    try {
      members = await get("/api/auth/members", { signal: ctx.signal });
    } catch (error) {
      mount(list, h("p", { class: "muted" }, "The members could not be loaded."));
      return showError(error, { context: "Could not load the team" });
    }
    if (!members.length) return mount(list, empty("No members yet — invite someone above."));
    mount(
      list,
      h(
        "table",
        { class: "table" },
        h("caption", { class: "sr-only" }, "Members"),
        h("thead", {}, h("tr", {}, ["Member", "Role", "Joined", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, members.map((m) => memberRow(m, { canManage, isMe: m.user_id === myId, reload: load }))),
      ),
    );
  };

  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off", "data-testid": "invite-email" });
  const role = h("select", { name: "role", value: "agent", "data-testid": "invite-role" }, ROLES.map((r) => h("option", { value: r }, `${r} — ${ROLE_HELP[r]}`)));
  const invite = h("button", { type: "submit", class: "primary", "data-testid": "invite-submit" }, "Send invitation");
  const pending = h("div", { "aria-live": "polite", "data-testid": "pending-invitations" });
  const loadInvitations = async () => {
    if (!canManage) return;
    let invitations;
    try {
      invitations = await get("/api/auth/invitations", { signal: ctx.signal });
    } catch (error) {
      return showError(error, { context: "Could not load the invitations" });
    }
    if (!invitations.length) return mount(pending);
    mount(
      pending,
      h("h2", {}, "Invitations not yet accepted"),
      h(
        "table",
        { class: "table" },
        h("caption", { class: "sr-only" }, "Pending invitations"),
        h("thead", {}, h("tr", {}, ["Address", "Role", "Invited", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, invitations.map((i) => invitationRow(i, { reload: loadInvitations }))),
      ),
    );
  };
  const form = h(
    "form",
    { class: "card form", "aria-labelledby": "invite-title" },
    h("h2", { id: "invite-title" }, "Invite a member"),
    h("p", { class: "hint" }, "We mail the address a link that works for a week. They join when they open it signed in with a verified account of that address (someone without an account signs up first); until then the invitation waits below."),
    h("div", { class: "row" }, h("div", { class: "grow" }, field("Email", email)), field("Role", role), invite),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await run(invite, () => post("/api/auth/members", { email: email.value, role: role.value }), { form, context: "Could not send the invitation" })) {
      email.value = "";
      await loadInvitations();
    }
  });

  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "Team"), h("p", { class: "muted" }, "Who can work in this workspace, and what they may do.")),
    canManage ? form : h("p", { class: "notice" }, "Only admins and owners can add or change members."),
    list,
    pending,
  );
  await Promise.all([load(), loadInvitations()]);
}

function invitationRow(invitation, { reload }) {
  const revoke = h("button", { type: "button", class: "small danger", "data-testid": "revoke-invitation" }, "Revoke");
  revoke.addEventListener("click", async () => {
    const ok = await confirmAction(`Revoke the invitation of ${invitation.email}? Its link stops working.`, { action: "Revoke" });
    if (ok && (await run(revoke, async () => (await del(`/api/auth/invitations/${invitation.id}`), true), { context: "Could not revoke the invitation" }))) await reload();
  });
  return h(
    "tr",
    { "data-testid": "invitation-row" },
    h("td", {}, invitation.email, invitation.expired ? [" ", h("span", { class: "tag" }, "expired")] : null),
    h("td", {}, invitation.role),
    h("td", {}, fmtDate(invitation.created_at), invitation.invited_by_email ? h("div", { class: "muted" }, `by ${invitation.invited_by_email}`) : null),
    h("td", {}, revoke),
  );
}

function memberRow(member, { canManage, isMe, reload }) {
  const role = h("select", { "aria-label": `Role of ${member.email}`, value: member.role, disabled: !canManage, "data-testid": "member-role" }, ROLES.map((r) => h("option", { value: r }, r)));
  const remove = h("button", { type: "button", class: "small danger", disabled: !canManage, "data-testid": "remove-member" }, isMe ? "Leave" : "Remove");
  role.addEventListener("change", async () => {
    const next = role.value;
    const ok = await confirmAction(`Make ${member.email} ${next === "admin" || next === "owner" ? "an" : "a"} ${next}? Their sessions end so the new role applies at once.`, { action: "Change role", danger: false });
    if (!ok) {
      role.value = member.role;
      return;
    }
    const updated = await run(role, () => patch(`/api/auth/members/${member.user_id}`, { role: next }), { context: "Could not change the role" });
    if (updated) member.role = updated.role;
    role.value = member.role;
  });
  remove.addEventListener("click", async () => {
    const ok = await confirmAction(isMe ? "Leave this workspace? You lose access to it at once." : `Remove ${member.email} from this workspace? They lose access at once.`, { action: isMe ? "Leave" : "Remove" });
    if (ok && (await run(remove, async () => (await del(`/api/auth/members/${member.user_id}`), true), { context: "Could not remove the member" }))) await reload();
  });
  return h(
    "tr",
    { "data-testid": "member-row" },
    h("td", {}, h("div", {}, member.display_name || member.email, isMe ? [" ", h("span", { class: "tag" }, "you")] : null), member.display_name ? h("div", { class: "muted" }, member.email) : null),
    h("td", {}, role),
    h("td", {}, fmtDate(member.created_at)),
    h("td", {}, remove),
  );
}
