export const id = 914;
export const ids = [914];
export const modules = {

/***/ 1914:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   upsertPlanComment: () => (/* binding */ upsertPlanComment)
/* harmony export */ });
/* unused harmony exports GITHUB_ACTIONS_BOT, MAX_COMMENT_BYTES, commentText, writtenBy */
/* harmony import */ var _actions_github__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(2413);
/* harmony import */ var _markdown_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(4285);
// One sticky comment per pull request and namespace: updated in place on every push, never a new one each time.
//
// Only a comment the token's own identity wrote is updated. Anyone may post a comment holding the hidden
// marker; a token that may write to the pull request may also edit that comment, and the plan would then show
// under that account's name, for it to edit afterwards. Who the token is: GET /user names the user behind a
// personal access token; an installation token (the workflow's GITHUB_TOKEN, a GitHub App's) gets 403 there,
// and the GITHUB_TOKEN's comments are written by github-actions[bot]. A GitHub App's own bot has another
// name, which its installation token cannot look up: its runs then find no comment of theirs and post a new
// one, rather than touch one of someone else's.


// The author of every comment a workflow's GITHUB_TOKEN writes.
const GITHUB_ACTIONS_BOT = { login: 'github-actions[bot]', type: 'Bot' };
// GitHub refuses a comment body over 65536 characters (422). Measured in UTF-8 bytes, never fewer than
// characters, so the check is stricter than GitHub's.
const MAX_COMMENT_BYTES = 65_536;
async function upsertPlanComment(target, marker, body) {
    const octokit = (0,_actions_github__WEBPACK_IMPORTED_MODULE_0__/* .getOctokit */ .Q)(target.token);
    const me = await tokenIdentity(octokit);
    const comments = await octokit.paginate(octokit.rest.issues.listComments, {
        owner: target.owner,
        repo: target.repo,
        issue_number: target.number,
        per_page: 100
    });
    const text = commentText(marker, body);
    const existing = comments.find(c => c.body?.startsWith(marker) && writtenBy(c.user, me));
    if (existing) {
        await octokit.rest.issues.updateComment({
            owner: target.owner,
            repo: target.repo,
            comment_id: existing.id,
            body: text
        });
        return 'updated';
    }
    await octokit.rest.issues.createComment({
        owner: target.owner,
        repo: target.repo,
        issue_number: target.number,
        body: text
    });
    return 'created';
}
// The marker and the plan, cut to GitHub's limit with everything it holds (the marker included).
function commentText(marker, body) {
    const room = MAX_COMMENT_BYTES - Buffer.byteLength(marker, 'utf8') - 1;
    return `${marker}\n${(0,_markdown_js__WEBPACK_IMPORTED_MODULE_1__/* .truncateMarkdown */ .o4)(body, room, 'a comment holds 65536 characters; the job summary has the rest')}`;
}
async function tokenIdentity(octokit) {
    try {
        const { data } = await octokit.rest.users.getAuthenticated();
        return { login: data.login, type: data.type, id: data.id };
    }
    catch (error) {
        if (error.status === 403)
            return GITHUB_ACTIONS_BOT;
        throw error;
    }
}
// Written by `me`: the same account id when it is known, else the same login and type (a user cannot take a
// login ending in [bot], nor be of type Bot).
function writtenBy(user, me) {
    if (!user)
        return false;
    if (me.id !== undefined)
        return user.id === me.id;
    return user.login === me.login && user.type === me.type;
}


/***/ })

};
